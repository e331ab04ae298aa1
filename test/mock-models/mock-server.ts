/**
 * Common base of the loopback mock model servers: a Node `http` server on 127.0.0.1:0 that records
 * every request and connection, routes to the provider handlers, and writes SSE.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/messages`. */
  path: string;
  /** Path with the query string, as sent. */
  url: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined when there was no body or it was not JSON. */
  body: any;
  rawBody: string;
  /** `Date.now()` when the body had been read. */
  time: number;
  /** Which route answered it (e.g. "messages", "generateContent"), or "unexpected". */
  route: string;
  /** Set when the client closed the connection before the reply was complete (e.g. an interrupt). */
  clientClosedEarly: boolean;
}

export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  time: number;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  recorded: RecordedRequest;
  match: RegExpMatchArray;
}

type RouteHandler = (ctx: RouteContext) => void | Promise<void>;

interface Route {
  name: string;
  method: string;
  pattern: RegExp;
  handler: RouteHandler;
}

export function isLoopback(address: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/.test(address);
}

export class MockServer {
  readonly requests: RecordedRequest[] = [];
  /** Requests no route matched (answered 404). */
  readonly unexpected: RecordedRequest[] = [];
  readonly connections: ConnectionInfo[] = [];
  /** Errors thrown by handlers (answered 500 when still possible). A healthy test leaves this empty. */
  readonly errors: Error[] = [];

  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly routes: Route[] = [];
  private readonly waiters = new Set<() => void>();
  private portNumber = 0;

  constructor(readonly name: string) {}

  get port(): number {
    return this.portNumber;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  protected route(name: string, method: string, pattern: RegExp, handler: RouteHandler): void {
    this.routes.push({ name, method, pattern, handler });
  }

  async start(): Promise<{ port: number; baseUrl: string }> {
    if (this.server) throw new Error(`${this.name} mock already started`);
    const server = createServer((req, res) => void this.handle(req, res));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      this.connections.push({
        remoteAddress: socket.remoteAddress ?? "",
        remotePort: socket.remotePort ?? 0,
        time: Date.now(),
      });
      socket.on("error", () => undefined);
      socket.once("close", () => this.sockets.delete(socket));
    });
    server.on("clientError", (_err, socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr === null || typeof addr === "string") throw new Error("unexpected server address");
    this.portNumber = addr.port;
    return { port: this.portNumber, baseUrl: this.baseUrl };
  }

  /** Stops listening and destroys every open connection (ending hanging or slow streams). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  nonLoopbackConnections(): ConnectionInfo[] {
    return this.connections.filter((c) => !isLoopback(c.remoteAddress));
  }

  /** Resolves with the first recorded request (past or future) matching `pred`. */
  waitForRequest(pred: (r: RecordedRequest) => boolean = () => true, timeoutMs = 10_000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.requests.find(pred);
        if (!found) return false;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name} mock: no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.waiters.add(waiter);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on("error", () => undefined);
    const rawBody = await readBody(req).catch(() => "");
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    let body: any;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    const method = req.method ?? "GET";
    let route: Route | undefined;
    let match: RegExpMatchArray | null = null;
    for (const r of this.routes) {
      if (r.method !== method && !(r.method === "GET" && method === "HEAD")) continue;
      match = url.pathname.match(r.pattern);
      if (match) {
        route = r;
        break;
      }
    }
    const recorded: RecordedRequest = {
      method,
      path: url.pathname,
      url: req.url ?? "/",
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      body,
      rawBody,
      time: Date.now(),
      route: route?.name ?? "unexpected",
      clientClosedEarly: false,
    };
    this.requests.push(recorded);
    res.once("close", () => {
      if (!res.writableFinished) recorded.clientClosedEarly = true;
    });
    for (const w of [...this.waiters]) w();

    if (!route || !match) {
      this.unexpected.push(recorded);
      sendJson(res, 404, { error: { message: `${this.name} mock: no route for ${method} ${url.pathname}` } });
      return;
    }
    try {
      await route.handler({ req, res, recorded, match });
    } catch (err) {
      this.errors.push(err instanceof Error ? err : new Error(String(err)));
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(err) } });
      else res.destroy();
    }
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes a `text/event-stream` reply; every write is a no-op once the client has gone away. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  open(headers: Record<string, string> = {}): void {
    if (this.closed) return;
    this.res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...headers,
    });
    this.res.flushHeaders();
  }

  /** `event:` line (omitted when `event` is undefined) and one `data:` line with JSON. */
  send(event: string | undefined, data: unknown): void {
    if (this.closed) return;
    this.res.write(`${event === undefined ? "" : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (!this.closed) this.res.end();
  }

  /** Sleeps `ms`, returning early (false) once the client has closed the connection. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onClose = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.res.off("close", onClose);
        resolve(!this.closed);
      }, ms);
      this.res.once("close", onClose);
    });
  }

  /** Waits until the client closes the connection (or the server is stopped). */
  untilClosed(): Promise<void> {
    if (this.res.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.res.once("close", () => resolve()));
  }
}
