/**
 * Operational endpoints: GET /health, GET /metrics and the OpenAI model list.
 */

import type { FastifyInstance } from "fastify";
import { ApiError } from "./api-error.js";
import type { ServerContext } from "./context.js";

function modelObject(context: ServerContext) {
  return {
    id: context.modelId,
    object: "model",
    created: context.startedAt,
    owned_by: "lcc",
    // Extension: positions the model attends to; memories, prompt and answer share them.
    context_window: context.engine.config.maxPositions,
  };
}

export function registerOpsRoutes(app: FastifyInstance, context: ServerContext): void {
  app.get("/health", async () => {
    const queue = context.engine.queueStats();
    return {
      status: "ok",
      model: context.modelId,
      memories: context.memories.list().length,
      queue: { running: queue.running, waiting: queue.queued },
    };
  });

  app.get("/metrics", async (_request, reply) => {
    reply.type(context.metrics.contentType).send(await context.metrics.text());
  });

  app.get("/v1/models", async () => {
    return { object: "list", data: [modelObject(context)] };
  });

  // A wildcard, because model ids such as "HuggingFaceTB/SmolLM2-135M" contain a slash.
  app.get<{ Params: { "*": string } }>("/v1/models/*", async (request) => {
    const id = request.params["*"];
    if (id !== context.modelId) {
      throw new ApiError(
        `the model ${JSON.stringify(id.slice(0, 200))} does not exist on this server; it serves ${JSON.stringify(context.modelId)}`,
        {
          status: 404,
          type: "invalid_request_error",
          code: "model_not_found",
          param: "model",
        },
      );
    }
    return modelObject(context);
  });
}
