/**
 * The two HTTP endpoints a container on an ECS instance can aim at, emulated for the namespace
 * suite. Run as a program inside a network namespace (host.ts compiles it to JavaScript first):
 *   node metadata-servers.js imds <http_tokens: required|optional> <address>...
 *   node metadata-servers.js task-credentials
 * It prints one line, "listening <address> <port>", once every socket is bound.
 *
 * The IMDS answers like EC2's: IMDSv1 GETs (refused with 401 when tokens are required), IMDSv2
 * `PUT /latest/api/token`. The hop limit of the token response is not set here (Node cannot set
 * IP_TTL on a socket): the harness marks connections that carry the PUT and rewrites the TTL / hop
 * limit of their packets with iptables/ip6tables in the metadata namespace.
 */
import { randomBytes } from "node:crypto";
import { createServer, IncomingMessage, ServerResponse } from "node:http";

/** Role name and keys the emulated IMDS hands out: a test recognises instance-role credentials by them. */
export const INSTANCE_ROLE_NAME = "ecs-container-instance-role";
export const INSTANCE_ROLE_ACCESS_KEY = "ASIAINSTANCEROLEKEY0";
/** Keys the emulated ECS agent endpoint hands out for a task role. */
export const TASK_ROLE_ACCESS_KEY = "ASIATASKROLEKEY00000";
/** The path of the task's credentials (what ECS puts in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI). */
export const TASK_CREDENTIALS_PATH = "/v2/credentials/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
/** Where the ECS agent listens for task credentials (ecs-init DNATs 169.254.170.2:80 there). */
export const TASK_CREDENTIALS_PORT = 51679;
export const INSTANCE_ID = "i-0123456789abcdef0";

const MAX_TOKEN_TTL_SECONDS = 21600;

function send(response: ServerResponse, status: number, body: string, type = "text/plain"): void {
  response.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), Connection: "close" });
  response.end(body);
}

function credentials(accessKeyId: string): string {
  return JSON.stringify({
    Code: "Success",
    Type: "AWS-HMAC",
    AccessKeyId: accessKeyId,
    SecretAccessKey: "emulated-secret-access-key",
    Token: "emulated-session-token",
    Expiration: "2099-01-01T00:00:00Z",
  });
}

/** IMDS emulation; `tokensRequired` is the launch template's `http_tokens = "required"`. */
export function imdsHandler(tokensRequired: boolean): (request: IncomingMessage, response: ServerResponse) => void {
  const tokens = new Map<string, number>();
  const documents: Record<string, () => [string, string]> = {
    "/latest/meta-data/": () => ["instance-id\niam/", "text/plain"],
    "/latest/meta-data/instance-id": () => [INSTANCE_ID, "text/plain"],
    "/latest/meta-data/iam/security-credentials/": () => [INSTANCE_ROLE_NAME, "text/plain"],
    [`/latest/meta-data/iam/security-credentials/${INSTANCE_ROLE_NAME}`]: () => [
      credentials(INSTANCE_ROLE_ACCESS_KEY),
      "application/json",
    ],
  };
  return (request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/latest/api/token") {
      if (request.method !== "PUT") return send(response, 405, "");
      // EC2 refuses token requests that went through a proxy.
      if (request.headers["x-forwarded-for"] !== undefined) return send(response, 403, "");
      const ttl = Number(request.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) return send(response, 400, "");
      const token = randomBytes(32).toString("base64url");
      tokens.set(token, Date.now() + ttl * 1000);
      return send(response, 200, token);
    }
    if (request.method !== "GET") return send(response, 405, "");
    const token = request.headers["x-aws-ec2-metadata-token"];
    if (token !== undefined) {
      const expiry = typeof token === "string" ? tokens.get(token) : undefined;
      if (expiry === undefined || expiry < Date.now()) return send(response, 401, "");
    } else if (tokensRequired) {
      return send(response, 401, "");
    }
    const document = documents[path];
    if (!document) return send(response, 404, "");
    const [body, type] = document();
    return send(response, 200, body, type);
  };
}

/** The ECS agent's task credentials endpoint. */
export function taskCredentialsHandler(request: IncomingMessage, response: ServerResponse): void {
  if (request.method === "GET" && request.url === TASK_CREDENTIALS_PATH) {
    return send(response, 200, credentials(TASK_ROLE_ACCESS_KEY), "application/json");
  }
  send(response, 400, JSON.stringify({ code: "InvalidIdInRequest" }), "application/json");
}

function listen(handler: (request: IncomingMessage, response: ServerResponse) => void, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once("error", reject);
    server.listen({ host, port, ipv6Only: host.includes(":") }, () => {
      process.stdout.write(`listening ${host} ${port}\n`);
      resolve();
    });
  });
}

async function main(argv: readonly string[]): Promise<void> {
  const [mode, tokens] = argv;
  if (mode === "imds") {
    if (tokens !== "required" && tokens !== "optional") throw new Error(`http_tokens must be required or optional, got ${tokens}`);
    const handler = imdsHandler(tokens === "required");
    for (const address of argv.slice(2)) await listen(handler, address, 80);
  } else if (mode === "task-credentials") {
    await listen(taskCredentialsHandler, "127.0.0.1", TASK_CREDENTIALS_PORT);
  } else {
    throw new Error(`unknown mode ${mode}: expected imds or task-credentials`);
  }
  process.stdout.write("ready\n");
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
