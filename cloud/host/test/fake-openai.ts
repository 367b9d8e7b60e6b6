/**
 * A local OpenAI chat-completions server on 127.0.0.1 for the node tests.
 *
 * Bodies are the documented shapes the Python tests use (cloud/workers/tests/fixtures/openai/):
 * a chat completion whose answer depends only on the request (so two runs of one job give
 * the same transcript), the documented 429 rate-limit error with a 10 ms `retry-after-ms`,
 * and the documented 401 invalid-key error.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

import { REPO_ROOT } from "../src/paths.ts";

const FIXTURES = join(REPO_ROOT, "cloud", "workers", "tests", "fixtures", "openai");
const COMPLETION = JSON.parse(readFileSync(join(FIXTURES, "chat_completion.json"), "utf8"));
const ERRORS = JSON.parse(readFileSync(join(FIXTURES, "errors.json"), "utf8"));

interface ChatMessage {
  role: string;
  content: string;
}

export interface ReceivedRequest {
  turn: number;
  messages: ChatMessage[];
  authorization: string | undefined;
}

export interface FakeOpenAI {
  /** The base URL to give the worker as OPENAI_BASE_URL. */
  url: string;
  requests: ReceivedRequest[];
  /** Turns answered with the documented 429 (retryable; the worker retries, then gives up). */
  failTurns: Set<number>;
  /** When set, every request is answered with the documented 401 invalid-key error. */
  rejectKey: boolean;
  close(): Promise<void>;
}

function answer(body: { model: string; messages: ChatMessage[] }, turn: number): unknown {
  const completion = structuredClone(COMPLETION);
  const last = body.messages.at(-1)?.content ?? "";
  const text = `Answer ${turn}: about ${JSON.stringify(last.slice(0, 40))}`;
  completion.id = `chatcmpl-fake-turn${turn}`;
  completion.model = `${body.model}-2024-07-18`;
  completion.choices[0].message.content = text;
  completion.usage.prompt_tokens = Math.floor(JSON.stringify(body.messages).length / 4);
  completion.usage.completion_tokens = Math.floor(text.length / 4);
  completion.usage.total_tokens = completion.usage.prompt_tokens + completion.usage.completion_tokens;
  return completion;
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers });
  res.end(data);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const fake: FakeOpenAI = { url: "", requests: [], failTurns: new Set(), rejectKey: false, close: async () => {} };
  const server = createServer((req, res) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      send(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: "invalid_request_error" } });
      return;
    }
    readJson(req).then(
      (raw) => {
        const body = raw as { model: string; messages: ChatMessage[] };
        const turn = body.messages.filter((m) => m.role === "user").length;
        fake.requests.push({ turn, messages: body.messages, authorization: req.headers.authorization });
        if (fake.rejectKey) send(res, 401, ERRORS.invalid_api_key);
        else if (fake.failTurns.has(turn)) send(res, 429, ERRORS.rate_limit, { "retry-after-ms": "10" });
        else send(res, 200, answer(body, turn));
      },
      () => send(res, 400, { error: { message: "body is not JSON", type: "invalid_request_error" } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}/v1`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
