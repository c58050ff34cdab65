/** Chat messages and answers in the OpenAI Chat Completions shape, our own types. */

export interface ChatToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

export type ChatMessage =
  | { readonly role: 'system' | 'user'; readonly content: string }
  | { readonly role: 'assistant'; readonly content: string | null; readonly tool_calls?: readonly ChatToolCall[] }
  | { readonly role: 'tool'; readonly content: string; readonly tool_call_id: string };

export interface TokenUsage {
  /** Every prompt token, cached ones included. */
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Prompt tokens read from the provider's prompt cache (a part of inputTokens). */
  readonly cachedInputTokens: number;
  /** Prompt tokens written to the provider's prompt cache (Anthropic; a part of inputTokens). */
  readonly cacheWriteInputTokens?: number;
}

/** What a provider answered. */
export interface ChatAnswer {
  readonly content: string | null;
  readonly toolCalls: readonly { readonly id: string; readonly name: string; readonly arguments: string }[];
  readonly finishReason: string;
  readonly usage: TokenUsage;
  /** The provider reported no usage (a stream without its usage chunk): usage is our estimate. */
  readonly usageEstimated?: boolean;
}

export interface ChatRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly unknown[];
  readonly temperature?: number;
  /** Sent as max_tokens: the bound that makes a budget reservation an upper bound of the cost. */
  readonly maxOutputTokens?: number;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Stream the answer (usage asked for with stream_options.include_usage). */
  readonly stream?: boolean;
  /** Called with each piece of text of a streamed answer. */
  readonly onDelta?: (text: string) => void;
  readonly signal?: AbortSignal;
}

export interface EmbedRequest {
  readonly model: string;
  readonly input: readonly string[];
  readonly signal?: AbortSignal;
}

export interface EmbedAnswer {
  /** One vector per input, in the order of the inputs. */
  readonly vectors: readonly (readonly number[])[];
  readonly inputTokens: number;
}

/** One provider kind: sends a request to one deployment. */
export interface ChatProvider {
  complete(request: ChatRequest): Promise<ChatAnswer>;
  embed?(request: EmbedRequest): Promise<EmbedAnswer>;
}
