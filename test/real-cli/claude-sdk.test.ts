import { defineConformance } from "./conformance.js";
import { claudeHarness } from "./provider-harness.js";

// The same suite with the provider's official SDK driving the same pinned CLI (an optional dependency).
defineConformance(claudeHarness, "sdk");
