import { defineConformance } from "./conformance.js";
import { claudeHarness } from "./provider-harness.js";

defineConformance(claudeHarness);
