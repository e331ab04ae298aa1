import { defineRemoteConformance } from "./remote-conformance.js";
import { codexHarness } from "./provider-harness.js";

defineRemoteConformance(codexHarness);
