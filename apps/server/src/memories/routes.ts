/**
 * The memories API: upload a memory file, list, describe and delete memories.
 */

import type { MemoryInfo } from "@lcc/serving";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../api-error.js";
import type { ServerContext } from "../context.js";
import { checkMemoryId } from "../ids.js";

/** A memory as the API returns it. */
function memoryObject(info: MemoryInfo, persisted: boolean) {
  return {
    id: info.id,
    object: "memory",
    model: info.modelName,
    source_tokens: info.sourceTokens,
    buffer_tokens: info.bufferTokens,
    bytes: info.bytes,
    cached: info.cached,
    persisted,
  };
}

function notFound(id: string): ApiError {
  return new ApiError(`no memory with id ${id} exists on this server; list them with GET /v1/memories`, {
    status: 404,
    type: "not_found_error",
    code: "memory_not_found",
    param: "id",
  });
}

export function registerMemoryRoutes(app: FastifyInstance, context: ServerContext): void {
  const { memories, limits, uploads } = context;

  // Uploads take raw bytes, with their own, larger body limit; the parser is scoped to this route.
  // A slot of context.uploads is taken before the body is read, and freed when the
  // response ends or the connection closes.
  const takeUploadSlot = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      reply.raw.once("close", uploads.take());
    } catch (error) {
      request.log.warn({ inProgress: uploads.inProgress, limit: uploads.limit }, "memory upload rejected: too many uploads in progress");
      throw error;
    }
  };

  app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/octet-stream",
      { parseAs: "buffer", bodyLimit: limits.memoryUploadLimitBytes },
      (_request, body, done) => done(null, body),
    );
    const routeOptions = { bodyLimit: limits.memoryUploadLimitBytes, onRequest: takeUploadSlot };
    scope.post("/v1/memories", routeOptions, async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) {
        throw new ApiError("send the bytes of a memory file (.lccm) as the body, with content-type application/octet-stream", {
          status: 415,
          type: "invalid_request_error",
          code: "unsupported_media_type",
        });
      }
      const bytes = new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength);
      const { id, created } = await memories.addFile(bytes);
      const info = memories.info(id) as MemoryInfo;
      reply.code(created ? 201 : 200).send(memoryObject(info, memories.persistent));
    });
  });

  app.get("/v1/memories", async () => {
    return { object: "list", data: memories.list().map((info) => memoryObject(info, memories.persistent)) };
  });

  app.get<{ Params: { id: string } }>("/v1/memories/:id", async (request) => {
    const id = checkMemoryId(request.params.id, "id");
    const info = memories.info(id);
    if (info === undefined) throw notFound(id);
    const memory = await memories.memory(id);
    return {
      ...memoryObject(info, memories.persistent),
      ratio: memory.compression.ratio,
      segments: memory.compression.segments.length,
      producer: memory.producer,
      created_at: memory.createdAt,
      source_sha256: memory.sourceSha256,
      provenance: {
        steps: memory.provenance.steps,
        final_losses: memory.provenance.finalLosses,
        wall_time_seconds: memory.provenance.wallTimeSeconds,
      },
    };
  });

  app.delete<{ Params: { id: string } }>("/v1/memories/:id", async (request) => {
    const id = checkMemoryId(request.params.id, "id");
    if (!(await memories.remove(id))) throw notFound(id);
    return { id, object: "memory.deleted", deleted: true };
  });
}
