import { defineConformance } from "./conformance.js";
import { codexHarness } from "./provider-harness.js";

defineConformance(codexHarness);
