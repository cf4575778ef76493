/**
 * Judging a large input on several cores: the descriptions are split between worker threads and
 * this thread, each running the same `judge`. Small inputs (and any failure to start a worker)
 * are judged here alone, with the same result.
 */
import { availableParallelism } from "node:os";
import { extname, join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { judge } from "./judge";
import { AuditNetworkMode, Judgement, LaunchDescription } from "./types";

/** Below this many descriptions, starting workers costs more than it saves. */
export const PARALLEL_THRESHOLD = 2000;
const MAX_WORKERS = 4;

interface Job {
  /** Marks the worker data as this module's, so importing it in another worker does nothing. */
  readonly ecsImdsGuardJudge: true;
  readonly descriptions: readonly LaunchDescription[];
  readonly networkModes: readonly AuditNetworkMode[];
}

/** Judges every description, in order; `warn` hears of a worker that failed (its part is judged here). */
export async function judgeAll(
  descriptions: readonly LaunchDescription[],
  networkModes: readonly AuditNetworkMode[],
  warn: (message: string) => void = () => undefined,
): Promise<Judgement[]> {
  const cores = Math.min(availableParallelism(), MAX_WORKERS);
  if (descriptions.length < PARALLEL_THRESHOLD || cores < 2) return descriptions.map((d) => judge(d, { networkModes }));
  const size = Math.ceil(descriptions.length / cores);
  const chunks = Array.from({ length: cores }, (_, i) => descriptions.slice(i * size, (i + 1) * size));
  // The last chunk is judged here while the workers run the others.
  const remote = chunks.slice(0, -1).map((chunk) => inWorker({ ecsImdsGuardJudge: true, descriptions: chunk, networkModes }));
  const local = chunks[chunks.length - 1].map((d) => judge(d, { networkModes }));
  const results = await Promise.all(
    remote.map((promise, i) =>
      promise.catch((error: unknown) => {
        warn(`a judge thread failed (${error instanceof Error ? error.message : String(error)}); its part was judged on the main thread`);
        return chunks[i].map((d) => judge(d, { networkModes }));
      }),
    ),
  );
  return [...results.flat(), ...local];
}

function inWorker(job: Job): Promise<Judgement[]> {
  return new Promise((resolve, reject) => {
    // The worker is this very file: parallel.ts under a TypeScript loader, parallel.js once built.
    const worker = new Worker(join(__dirname, `parallel${extname(__filename)}`), { workerData: job });
    worker.once("message", (judgements: Judgement[]) => {
      resolve(judgements);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`judge worker exited ${code}`));
    });
  });
}

if (!isMainThread && parentPort && (workerData as Job | undefined)?.ecsImdsGuardJudge === true) {
  const job = workerData as Job;
  parentPort.postMessage(job.descriptions.map((d) => judge(d, { networkModes: job.networkModes })));
}
