export * from "./mock-server.js";
export * from "./scenario.js";
export * from "./anthropic-mock.js";
export * from "./openai-responses-mock.js";
export * from "./gemini-mock.js";

import { AnthropicMock } from "./anthropic-mock.js";
import { GeminiMock } from "./gemini-mock.js";
import { OpenAIResponsesMock } from "./openai-responses-mock.js";
import type { Provider } from "./scenario.js";

export type AnyModelMock = AnthropicMock | OpenAIResponsesMock | GeminiMock;

/** Creates and starts the mock for `provider`. Remember `await mock.stop()`. */
export async function startMockModel(provider: "anthropic"): Promise<AnthropicMock>;
export async function startMockModel(provider: "openai"): Promise<OpenAIResponsesMock>;
export async function startMockModel(provider: "gemini"): Promise<GeminiMock>;
export async function startMockModel(provider: Provider): Promise<AnyModelMock>;
export async function startMockModel(provider: Provider): Promise<AnyModelMock> {
  const mock =
    provider === "anthropic" ? new AnthropicMock() : provider === "openai" ? new OpenAIResponsesMock() : new GeminiMock();
  await mock.start();
  return mock;
}
