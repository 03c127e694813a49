/**
 * The HTTP server: fastify routes over one serving engine, the memory folder and the
 * compile jobs, with request ids, authentication, OpenAI-shaped errors and metrics.
 */

import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { loadModel, modelHashes } from "@lcc/models";
import { Engine, type EngineModel } from "@lcc/serving";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import { ApiError, toApiError } from "./api-error.js";
import { BearerAuth } from "./auth.js";
import { clientErrorHandler } from "./client-error.js";
import { registerChatRoutes } from "./chat/route.js";
import { CompileJobs } from "./compile/jobs.js";
import { registerCompileRoutes } from "./compile/routes.js";
import type { ServerContext } from "./context.js";
import { MemoryDirectory } from "./memories/directory.js";
import { MemoryRegistry } from "./memories/registry.js";
import { registerMemoryRoutes } from "./memories/routes.js";
import { UploadSlots } from "./memories/upload-slots.js";
import { ServerMetrics } from "./metrics.js";
import { registerOpsRoutes } from "./ops-routes.js";
import { type ResolvedServerOptions, type ServerOptions, resolveServerOptions } from "./options.js";
import { VERSION } from "./version.js";

/** A client-sent x-request-id is used when it is this short and plain; otherwise the server makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Loopback addresses, which need no API key to be safe from other machines. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

export class LccServer {
  private address: string | null = null;
  private closing: Promise<void> | null = null;

  /** @internal Use createServer or startServer. */
  constructor(
    readonly app: FastifyInstance,
    readonly engine: Engine,
    private readonly context: ServerContext,
    private readonly options: ResolvedServerOptions,
  ) {}

  /** The model's id in the API, e.g. "stories260K". */
  get modelId(): string {
    return this.context.modelId;
  }

  /** The base URL, e.g. "http://127.0.0.1:8080", once listening. */
  get url(): string {
    if (this.address === null) throw new Error("the server is not listening; call listen() first");
    return this.address;
  }

  /** Starts listening on the configured host and port and returns the base URL. */
  async listen(): Promise<string> {
    const { host, port } = this.options;
    await this.app.listen({ host, port });
    const bound = this.app.server.address() as AddressInfo;
    const hostPart = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
    this.address = `http://${hostPart}:${bound.port}`;
    this.app.log.info({ url: this.address, model: this.modelId, authentication: this.options.apiKey !== undefined }, "server listening");
    if (!LOOPBACK_HOSTS.has(host) && this.options.apiKey === undefined) {
      this.app.log.warn({ host }, "the server listens beyond loopback without an API key; anyone who can reach it can use it");
    }
    return this.address;
  }

  /**
   * Stops accepting requests, cancels compile jobs and running generations (their
   * clients get 503 or a last error event), waits for responses to end and releases
   * the model's sessions.
   */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.app.close();
      await this.engine.close();
      this.app.log.info("server stopped");
    })();
    return this.closing;
  }
}

/** Loads the model, starts the engine, loads the memory folder and sets up the routes; does not listen. */
export async function createServer(options: ServerOptions): Promise<LccServer> {
  const resolved = resolveServerOptions(options);
  const { limits } = resolved;
  const app = Fastify({
    logger: {
      level: resolved.logLevel,
      stream: resolved.logStream ?? process.stderr,
      // Fastify's request serializer sends no headers; this is a second guard for the API key.
      redact: { paths: ["req.headers.authorization", "headers.authorization"], censor: "[redacted]" },
    },
    bodyLimit: limits.bodyLimitBytes,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: "requestId" }),
    genReqId: (raw) => {
      const given = raw.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Node's limit on receiving a whole request (headers and body), against slow senders.
    requestTimeout: limits.requestTimeoutMs,
    // The onRequest hook returns 503 during shutdown instead, in the API's error shape.
    return503OnClosing: false,
    // A "__proto__" key, or a "constructor" key holding a "prototype", is valid JSON but
    // could replace an object's prototype; such keys are removed and the rest is read.
    onProtoPoisoning: "remove",
    onConstructorPoisoning: "remove",
    // Requests that Node rejects before routing (URL and headers too large, too slow) also
    // get the API's error shape.
    clientErrorHandler,
  });
  // Every endpoint with a body takes JSON or, for uploads, raw bytes; fastify's default
  // text/plain parser would hand a JSON endpoint a string instead of answering 415.
  app.removeContentTypeParser("text/plain");

  // The model and the engine.
  const model: EngineModel =
    typeof resolved.model === "string" ? await loadModel(resolved.model, { modelsDir: resolved.modelsDir }) : resolved.model;
  const engine = await Engine.create(model, {
    sessionOptions: resolved.sessionOptions,
    maxMemoryBytes: limits.maxMemoryBytes,
    maxConcurrent: limits.maxConcurrent,
    maxQueued: limits.maxQueued,
  });

  try {
    // Memories from the folder, compile jobs and metrics.
    const directory = resolved.memoryDir === undefined ? null : await MemoryDirectory.open(resolved.memoryDir);
    const memories = new MemoryRegistry(engine, directory, app.log);
    const loaded = await memories.loadDirectory();
    if (directory !== null) app.log.info({ folder: directory.folder, ...loaded }, "memory folder loaded");
    const jobs = new CompileJobs({
      model: model.model,
      fingerprint: modelHashes(model.model, model.tokenizer),
      sessionOptions: resolved.sessionOptions ?? {},
      memories,
      limits,
      log: app.log,
      producerVersion: VERSION,
    });
    const uploads = new UploadSlots(limits.maxConcurrentUploads);
    const metrics = new ServerMetrics({
      queue: () => engine.queueStats(),
      compileJobs: () => jobs.counts(),
      memories: () => ({ count: engine.memories().length, cachedBytes: engine.memoryCacheStats().bytes }),
      uploadsInProgress: () => uploads.inProgress,
    });
    const context: ServerContext = {
      engine,
      modelId: resolved.modelId ?? model.model.config.name,
      startedAt: Math.floor(Date.now() / 1000),
      limits,
      memories,
      uploads,
      jobs,
      metrics,
      log: app.log,
    };

    installHooks(app, context, resolved);
    registerOpsRoutes(app, context);
    registerChatRoutes(app, context);
    registerMemoryRoutes(app, context);
    registerCompileRoutes(app, context, { threads: resolved.sessionOptions?.threads ?? 0 });

    // Shutdown: end what keeps responses open before fastify waits for them.
    app.addHook("preClose", async () => {
      await jobs.close();
      await engine.close();
    });
    await app.ready();
    return new LccServer(app, engine, context, resolved);
  } catch (error) {
    await engine.close();
    throw error;
  }
}

/** Creates a server and starts listening; see createServer and LccServer.listen. */
export async function startServer(options: ServerOptions): Promise<LccServer> {
  const server = await createServer(options);
  try {
    await server.listen();
  } catch (error) {
    await server.close();
    throw error;
  }
  return server;
}

/** Request ids, authentication, metrics, and errors in OpenAI's body shape. */
function installHooks(app: FastifyInstance, context: ServerContext, options: ResolvedServerOptions): void {
  const auth = options.apiKey === undefined ? null : new BearerAuth(options.apiKey);
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);

    // Every response is counted when its connection is done with it, also when a handler
    // took the response over for streaming. 499: the client left before the end.
    const started = performance.now();
    reply.raw.once("close", () => {
      const status = reply.raw.writableFinished ? reply.raw.statusCode : 499;
      context.metrics.observeRequest(request.method, request.routeOptions.url ?? "unmatched", status, (performance.now() - started) / 1000);
    });

    if (closing) {
      throw new ApiError("the server is shutting down; retry on another instance or after it restarts", {
        status: 503,
        type: "server_error",
        code: "server_shutting_down",
        headers: { connection: "close" },
      });
    }

    // /health stays open so that load balancers and orchestrators can probe without the key.
    if (auth !== null && request.routeOptions.url !== "/health") auth.check(request.headers.authorization);
  });

  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error, { bodyLimitBytes: request.routeOptions.bodyLimit });
    if (apiError.status >= 500) request.log.error({ err: error, status: apiError.status, code: apiError.code }, "request failed");
    else
      request.log.info(
        { status: apiError.status, code: apiError.code, param: apiError.param, message: apiError.message },
        "request rejected",
      );
    reply.code(apiError.status).headers(apiError.headers).send(apiError.body());
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.length > 200 ? `${request.url.slice(0, 200)}...` : request.url;
    const apiError = new ApiError(`no endpoint ${request.method} ${path}; see the API reference for the endpoints`, {
      status: 404,
      type: "invalid_request_error",
      code: "unknown_endpoint",
    });
    reply.code(404).send(apiError.body());
  });
}
