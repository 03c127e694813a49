/**
 * The compile API: submit a text as a compile job, poll it, follow it as server-sent
 * events, or cancel it.
 */

import type { FastifyInstance } from "fastify";
import { ApiError } from "../api-error.js";
import type { ServerContext } from "../context.js";
import { checkJobId } from "../ids.js";
import { EventStream } from "../sse.js";
import type { CompileJobEvent } from "./jobs.js";
import { parseCompileRequest } from "./request.js";

/** Seconds between comment lines on a quiet event stream, which keep proxies from closing it. */
const HEARTBEAT_MS = 15_000;

function notFound(id: string): ApiError {
  return new ApiError(`no compile job with id ${id} exists on this server; finished jobs are kept only for a while`, {
    status: 404,
    type: "not_found_error",
    code: "job_not_found",
    param: "job_id",
  });
}

export interface CompileRouteOptions {
  /** onnxruntime intra-op threads of the compile sessions; 0 lets onnxruntime choose. */
  readonly threads: number;
}

export function registerCompileRoutes(app: FastifyInstance, context: ServerContext, routeOptions: CompileRouteOptions): void {
  const { jobs } = context;

  app.post("/v1/memories/compile", async (request, reply) => {
    const submission = await parseCompileRequest(request.body, {
      tokenizer: context.engine.tokenizer,
      config: context.engine.config,
      limits: context.limits,
      threads: routeOptions.threads,
    });
    const job = jobs.submit(submission);
    reply.code(202).header("location", `/v1/memories/compile/${job.id}`).send(job);
  });

  // A static route, so that "compile" never reaches the memory routes as a memory id.
  app.get("/v1/memories/compile", async () => {
    return { object: "list", data: jobs.list() };
  });

  app.delete("/v1/memories/compile", async () => {
    throw new ApiError("DELETE /v1/memories/compile is not supported; cancel one job with DELETE /v1/memories/compile/{job}", {
      status: 405,
      type: "invalid_request_error",
      code: "method_not_allowed",
      headers: { allow: "GET, POST" },
    });
  });

  app.get<{ Params: { job: string } }>("/v1/memories/compile/:job", async (request) => {
    const id = checkJobId(request.params.job);
    const job = jobs.get(id);
    if (job === undefined) throw notFound(id);
    return job;
  });

  app.delete<{ Params: { job: string } }>("/v1/memories/compile/:job", async (request) => {
    const id = checkJobId(request.params.job);
    const job = jobs.cancel(id);
    if (job === undefined) throw notFound(id);
    return job;
  });

  // Events: `status` with the whole job (first the current state, then each change) and
  // `progress` with each compiler event. The stream ends after a finished status.
  app.get<{ Params: { job: string } }>("/v1/memories/compile/:job/events", async (request, reply) => {
    const id = checkJobId(request.params.job);
    const current = jobs.get(id);
    if (current === undefined) throw notFound(id);

    const stream = EventStream.open(reply);
    const pending: CompileJobEvent[] = [];
    let wake: (() => void) | null = null;
    const unsubscribe = jobs.subscribe(id, (event) => {
      pending.push(event);
      wake?.();
    });
    const heartbeat = setInterval(() => {
      void stream.comment("keep-alive");
    }, HEARTBEAT_MS);
    const onClose = () => wake?.();
    reply.raw.on("close", onClose);

    try {
      let event: CompileJobEvent | undefined = { type: "status", job: current };
      while (!stream.closed) {
        if (event === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
        } else {
          await stream.send(JSON.stringify(event.type === "status" ? event.job : event.progress), event.type);
          if (event.type === "status" && event.job.finished_at !== null) break;
        }
        event = pending.shift();
      }
    } finally {
      clearInterval(heartbeat);
      unsubscribe?.();
      reply.raw.off("close", onClose);
      stream.end();
    }
  });
}
