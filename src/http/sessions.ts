import type { ServerResponse } from "node:http";
import type { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import type { JSONRPCMessage, McpServer } from "@modelcontextprotocol/server";
import { isJSONRPCRequest } from "@modelcontextprotocol/server";
import { CallsInFlight } from "../calls-in-flight.js";
import { type Clock, withDeadline } from "../clock.js";
import type { OpsLogger } from "../observability.js";
import { STOPPED_AT_SHUTDOWN } from "../shutdown.js";
import { errorReply, SERVER_ERROR } from "../transports/jsonrpc.js";

export interface Session {
  transport: NodeStreamableHTTPServerTransport;
  server: McpServer;
  identity: string;
  createdAt: number;
  lastActive: number;
  /** Set when the client sent notifications/initialized: the handshake is complete. */
  initialized: boolean;
}

export interface SessionLimits {
  maxSessions: number;
  /** Sessions one identity may hold. */
  maxSessionsPerClient: number;
  sessionIdleMs: number;
  /** A session whose client never completed the handshake is closed this soon. */
  handshakeTimeoutMs: number;
}

const SWEEP_INTERVAL_MS = 1_000;
/** How long answers written at shutdown may take to leave before connections are cut. */
const FLUSH_AT_SHUTDOWN_MS = 1_000;

/**
 * The sessions of a stateful HTTP server: who owns each, the caps on them (in all, and per
 * identity, counting sessions still being opened), and a sweep on the clock that closes
 * sessions left idle and those whose client never finished the handshake.
 */
export class Sessions {
  private readonly byId = new Map<string, Session>();
  /** Sessions whose initialize is being answered, by identity. */
  private readonly starting = new Map<string, number>();
  private cancelSweep = () => {};

  constructor(
    private readonly limits: SessionLimits,
    private readonly clock: Clock,
    private readonly log: OpsLogger,
    /** Whether a session has calls in flight: such a session is never idle. */
    private readonly busy: (session: Session) => boolean,
  ) {
    this.sweepLater();
  }

  get size(): number {
    return this.byId.size;
  }

  /** The session `id`, if it is `identity`'s: another identity's is as unknown as none. */
  find(id: string, identity: string): Session | undefined {
    const session = this.byId.get(id);
    return session?.identity === identity ? session : undefined;
  }

  /** Takes a place for a new session of `identity`, or says why there is none (a 503). */
  reserve(identity: string): { release(): void } | { refusal: string } {
    const startingTotal = [...this.starting.values()].reduce((n, count) => n + count, 0);
    if (this.byId.size + startingTotal >= this.limits.maxSessions) {
      return {
        refusal: `Too many sessions (the limit is ${this.limits.maxSessions}); close unused sessions or try again later`,
      };
    }
    let own = this.starting.get(identity) ?? 0;
    for (const session of this.byId.values()) if (session.identity === identity) own++;
    if (own >= this.limits.maxSessionsPerClient) {
      return {
        refusal: `Too many sessions for this client (the limit is ${this.limits.maxSessionsPerClient}, MCP_HTTP_MAX_SESSIONS_PER_CLIENT); close unused sessions (DELETE /mcp) or wait for them to expire`,
      };
    }
    this.starting.set(identity, (this.starting.get(identity) ?? 0) + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        const left = (this.starting.get(identity) ?? 1) - 1;
        if (left > 0) this.starting.set(identity, left);
        else this.starting.delete(identity);
      },
    };
  }

  add(id: string, session: Omit<Session, "createdAt" | "lastActive" | "initialized">): void {
    const now = this.clock.now();
    this.byId.set(id, { ...session, createdAt: now, lastActive: now, initialized: false });
  }

  /** Forgets a session whose transport closed (it is closing already). */
  forget(id: string): void {
    this.byId.delete(id);
  }

  touch(session: Session): void {
    session.lastActive = this.clock.now();
  }

  async end(id: string): Promise<void> {
    const session = this.byId.get(id);
    if (!session) return;
    this.byId.delete(id);
    await session.server.close().catch(() => {});
  }

  async endAll(): Promise<void> {
    this.cancelSweep();
    await Promise.all([...this.byId.keys()].map((id) => this.end(id)));
  }

  private sweepLater(): void {
    const every = Math.min(SWEEP_INTERVAL_MS, this.limits.sessionIdleMs);
    this.cancelSweep = this.clock.schedule(every, () => {
      this.sweep();
      this.sweepLater();
    });
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [id, session] of this.byId) {
      if (!session.initialized && now - session.createdAt > this.limits.handshakeTimeoutMs) {
        this.log.log("info", "session closed: the client never completed the handshake");
        void this.end(id);
      } else if (!this.busy(session) && now - session.lastActive > this.limits.sessionIdleMs) {
        this.log.log("info", "session expired", { idle_ms: now - session.lastActive });
        void this.end(id);
      }
    }
  }
}

/**
 * The requests each transport is answering (one tracker, CallsInFlight, for stdio and HTTP): what
 * shutdown waits for or answers, what keeps a session busy, and what a client that disconnects
 * cancels.
 */
export class OpenCalls {
  private readonly inFlight = new CallsInFlight<object>();
  private readonly perTransport = new Map<NodeStreamableHTTPServerTransport, number>();

  count(transport: NodeStreamableHTTPServerTransport): number {
    return this.perTransport.get(transport) ?? 0;
  }

  /** Notes the requests of one POST until its response closes. */
  track(
    transport: NodeStreamableHTTPServerTransport,
    res: ServerResponse,
    messages: JSONRPCMessage[],
  ): void {
    const requests = messages.filter(isJSONRPCRequest);
    if (requests.length === 0) return;
    this.perTransport.set(transport, this.count(transport) + requests.length);
    const keys = requests.map(({ id }) => {
      const key = {};
      this.inFlight.add(key, () => {
        const closed = new Promise<void>((resolve) => res.once("close", () => resolve()));
        transport.send(errorReply(id, SERVER_ERROR, STOPPED_AT_SHUTDOWN)).catch(() => {});
        return closed;
      });
      return key;
    });
    res.on("close", () => {
      const left = this.count(transport) - requests.length;
      if (left > 0) this.perTransport.set(transport, left);
      else this.perTransport.delete(transport);
      for (const key of keys) this.inFlight.delete(key);
      // The SDK does not cancel a request when its HTTP client goes away: say so in the
      // protocol's own words, which aborts the call and its upstream request.
      if (res.writableFinished) return;
      for (const { id } of requests) {
        transport.onmessage?.({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id, reason: "the HTTP client disconnected" },
        });
      }
    });
  }

  /**
   * Notes a 2026-07-28 exchange until its response closes: one call, answered by the SDK's
   * per-request transport, which closing the server ends.
   */
  trackExchange(res: ServerResponse): void {
    const key = {};
    this.inFlight.add(key, async () => {});
    res.on("close", () => this.inFlight.delete(key));
  }

  /** Resolves once no request is being answered. */
  whenNone(): Promise<void> {
    return this.inFlight.whenNone();
  }

  /**
   * Answers every request still open as stopped at shutdown; resolves once those answers have
   * left, or after a short bound.
   */
  async answerAll(clock: Clock): Promise<void> {
    await withDeadline(clock, FLUSH_AT_SHUTDOWN_MS, this.inFlight.answerAll(), () => {});
  }
}
