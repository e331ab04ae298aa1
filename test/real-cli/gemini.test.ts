import { defineConformance } from "./conformance.js";
import { geminiHarness } from "./provider-harness.js";

defineConformance(geminiHarness);
