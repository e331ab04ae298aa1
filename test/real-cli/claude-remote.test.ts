import { defineRemoteConformance } from "./remote-conformance.js";
import { claudeHarness } from "./provider-harness.js";

defineRemoteConformance(claudeHarness);
