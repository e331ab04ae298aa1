import { defineConformance } from "./conformance.js";
import { geminiHarness } from "./provider-harness.js";

// The same suite with the provider's official SDK driving the same pinned CLI (an optional dependency).
defineConformance(geminiHarness, "sdk");
