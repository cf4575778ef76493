/**
 * Judging a large input on several cores: worker threads and this thread take batches of
 * descriptions from one queue, each running the same `judge`, so a thread that starts late or runs
 * on a busy core takes fewer. Small inputs (and any failure of a worker) are judged here, with the
 * same result.
 */
import { availableParallelism } from "node:os";
import { extname, join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { judge } from "./judge";
import { AuditNetworkMode, Judgement, LaunchDescription } from "./types";

/** Below this many descriptions, starting workers costs more than it saves. */
export const PARALLEL_THRESHOLD = 2000;
const MAX_WORKERS = 4;
/** Descriptions per batch: small enough to share the tail evenly, large enough that messages cost little. */
const BATCH = 250;

interface Setup {
  /** Marks the worker data as this module's, so importing it in another worker does nothing. */
  readonly ecsImdsGuardJudge: true;
  readonly networkModes: readonly AuditNetworkMode[];
}

interface Batch {
  readonly start: number;
  readonly descriptions: readonly LaunchDescription[];
}

interface Done {
  readonly start: number;
  readonly judgements: readonly Judgement[];
}

/** Judges every description, in order; `warn` hears of a worker that failed (its batches are judged here). */
export async function judgeAll(
  descriptions: readonly LaunchDescription[],
  networkModes: readonly AuditNetworkMode[],
  warn: (message: string) => void = () => undefined,
): Promise<Judgement[]> {
  const judgeHere = (d: LaunchDescription) => judge(d, { networkModes });
  const cores = Math.min(availableParallelism(), MAX_WORKERS);
  if (descriptions.length < PARALLEL_THRESHOLD || cores < 2) return descriptions.map(judgeHere);
  const results: Judgement[] = new Array(descriptions.length);
  let next = 0;
  const take = (): Batch | undefined => {
    if (next >= descriptions.length) return undefined;
    const start = next;
    next = Math.min(descriptions.length, next + BATCH);
    return { start, descriptions: descriptions.slice(start, next) };
  };
  const store = (start: number, judgements: readonly Judgement[]) => judgements.forEach((judgement, i) => (results[start + i] = judgement));
  const workers = Array.from({ length: cores - 1 }, () => startWorker({ ecsImdsGuardJudge: true, networkModes }, take, store));
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  // This thread takes batches too, letting the workers' messages in between.
  for (let batch = take(); batch !== undefined; batch = take()) {
    store(batch.start, batch.descriptions.map(judgeHere));
    await tick();
  }
  // The batches still out with a worker (one that started late, runs on a busy core, or failed):
  // judged here as well, and whichever thread finishes first gives the judgements (the same ones).
  for (const worker of workers) {
    for (const batch of [...worker.pending.values()]) {
      if (!worker.pending.delete(batch.start)) continue;
      store(batch.start, batch.descriptions.map(judgeHere));
      await tick();
    }
  }
  for (const worker of workers) {
    worker.stop();
    if (worker.failure !== undefined) warn(`a judge thread failed (${worker.failure}); its part was judged on the main thread`);
  }
  return results;
}

interface JudgeWorker {
  /** Batches sent and not answered yet, by their first index. */
  readonly pending: Map<number, Batch>;
  readonly failure: string | undefined;
  readonly stop: () => void;
}

/** A worker fed from the queue two batches ahead, so it never waits for this thread. */
function startWorker(setup: Setup, take: () => Batch | undefined, store: (start: number, judgements: readonly Judgement[]) => void): JudgeWorker {
  const pending = new Map<number, Batch>();
  let failure: string | undefined;
  let worker: Worker | undefined;
  const feed = () => {
    const batch = failure === undefined ? take() : undefined;
    if (batch === undefined || worker === undefined) return;
    pending.set(batch.start, batch);
    worker.postMessage(batch);
  };
  try {
    // The worker is this very file: parallel.ts under a TypeScript loader, parallel.js once built.
    worker = new Worker(join(__dirname, `parallel${extname(__filename)}`), { workerData: setup });
    worker.on("message", (done: Done) => {
      pending.delete(done.start);
      store(done.start, done.judgements);
      feed();
    });
    worker.once("error", (error) => (failure ??= error.message));
    worker.once("exit", (code) => (failure ??= `judge worker exited ${code}`));
    feed();
    feed();
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  }
  return {
    pending,
    get failure() {
      return failure;
    },
    stop: () => {
      if (worker === undefined) return;
      // Its error and exit handlers stay: a worker stopped while it starts may still report a failure.
      worker.removeAllListeners("message");
      void worker.terminate();
    },
  };
}

if (!isMainThread && parentPort && (workerData as Setup | undefined)?.ecsImdsGuardJudge === true) {
  const setup = workerData as Setup;
  const port = parentPort;
  port.on("message", (batch: Batch) => {
    const done: Done = { start: batch.start, judgements: batch.descriptions.map((d) => judge(d, { networkModes: setup.networkModes })) };
    port.postMessage(done);
  });
}
