/**
 * The audit reads user data as cloud-init does: its parts, types, file names and payloads agree
 * with cloud-init's own parser (the Debian package's UserDataProcessor) on every document here.
 */
import fc from "fast-check";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { judge, readUserDataBytes } from "../../lib/audit";
import { agentBoolean, goTrimSpace, readEcsConfig, renderUserData } from "../../lib/user-data";
import { parseWithCloudInit } from "../support/cloud-init";
import { describeWhen, hasCloudInit } from "../support/tools";

const FIXTURES = join(__dirname, "..", "fixtures", "audit");

function fixtureDocuments(): Array<[string, Buffer]> {
  return readdirSync(FIXTURES)
    .filter((name) => /\.(txt|sh|yaml|toml|b64)$/.test(name) && name !== "include-url.txt")
    .map((name) => {
      const text = readFileSync(join(FIXTURES, name), "utf8");
      return [name, name.endsWith(".b64") ? Buffer.from(text.trim(), "base64") : Buffer.from(text, "utf8")];
    });
}

const mime = (body: string, header = 'Content-Type: multipart/mixed; boundary="BOUND"\nMIME-Version: 1.0\n') => Buffer.from(`${header}\n${body}`, "utf8");

const EDGE_DOCUMENTS: Array<[string, Buffer]> = [
  ["text/plain part starting with #!", mime('--BOUND\nContent-Type: text/plain\n\n#!/bin/bash\necho hi\n--BOUND--\n')],
  ["x-shellscript declared, #cloud-boothook inside", mime('--BOUND\nContent-Type: text/x-shellscript\n\n#cloud-boothook\n#!/bin/sh\necho hi\n--BOUND--\n')],
  ["nested multipart", mime('--BOUND\nContent-Type: multipart/mixed; boundary="INNER"\n\n--INNER\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho inner\n--INNER--\n--BOUND\nContent-Type: text/cloud-config\n\n#cloud-config\nruncmd: [ls]\n--BOUND--\n')],
  ["base64 part with a file name", mime(`--BOUND\nContent-Type: text/x-shellscript; charset="utf-8"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="b.sh"\n\n${Buffer.from("#!/bin/bash\necho caf\u00e9\n").toString("base64")}\n--BOUND--\n`)],
  ["quoted-printable part", mime('--BOUND\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: quoted-printable\n\n#!/bin/bash\necho a=3Db =\nsoft\n--BOUND--\n')],
  ["a gzip part", mime(`--BOUND\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n${gzipSync("#!/bin/bash\necho zipped\n").toString("base64")}\n--BOUND--\n`)],
  ["file name in Content-Type name=", mime('--BOUND\nContent-Type: text/x-shellscript; name="n.sh"\n\n#!/bin/bash\n--BOUND--\n')],
  ["no closing boundary", mime('--BOUND\nContent-Type: text/x-shellscript\n\n#!/bin/bash\necho open\n')],
  ["preamble and epilogue", mime('preamble text\n--BOUND\nContent-Type: text/cloud-boothook\n\n#!/bin/sh\necho b\n--BOUND--\nepilogue\n')],
  ["boundary line with trailing spaces", mime('--BOUND  \nContent-Type: text/x-shellscript\n\n#!/bin/bash\necho t\n--BOUND--\n')],
  ["CRLF line endings", Buffer.from('Content-Type: multipart/mixed; boundary="B"\r\nMIME-Version: 1.0\r\n\r\n--B\r\nContent-Type: text/x-shellscript\r\n\r\n#!/bin/bash\r\necho crlf\r\n--B--\r\n')],
  ["a multipart without MIME-Version is one text part", mime('--BOUND\nContent-Type: text/x-shellscript\n\n#!/bin/bash\n--BOUND--\n', 'Content-Type: multipart/mixed; boundary="BOUND"\n')],
  ["folded Content-Type header", mime('--BOUND\nContent-Type: text/x-shellscript;\n charset="us-ascii"\n\n#!/bin/bash\necho folded\n--BOUND--\n')],
  ["upper-case type and missing subtype", mime('--BOUND\nContent-Type: TEXT/X-SHELLSCRIPT\n\n#!/bin/bash\n--BOUND\nContent-Type: nonsense\n\n#cloud-config\n{}\n--BOUND--\n')],
  ["8bit non-ASCII text", mime('--BOUND\nContent-Type: text/x-shellscript; charset="utf-8"\n\n#!/bin/bash\necho "\u00e9\u20ac"\n--BOUND--\n')],
  ["a single #cloud-config document", Buffer.from("#cloud-config\nbootcmd:\n  - echo hi\n")],
  ["leading blank lines before #!", Buffer.from("\n\n  #!/bin/bash\necho x\n")],
  ["plain text that is nothing", Buffer.from("hello world\n")],
  // base64encode() of text already base64: EC2 decodes once, the instance gets base64 text.
  ["a script encoded twice", Buffer.from(Buffer.from("#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n").toString("base64"))],
];

function moduleDocuments(): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const gzip of [false, true]) {
    for (const ipv6Imds of [false, true]) {
      const rendered = renderUserData({
        clusterName: "prod",
        ipv6Imds,
        gzip,
        extraParts: [
          { contentType: "text/x-shellscript", content: "#!/bin/bash\necho 'caf\u00e9'\n" },
          { contentType: "text/cloud-config", content: "#cloud-config\nruncmd: [date]\n" },
        ],
      });
      out.push([`module gzip=${gzip} ipv6=${ipv6Imds}`, rendered.payload as Buffer]);
    }
  }
  return out;
}

const documents = [...fixtureDocuments(), ...EDGE_DOCUMENTS, ...moduleDocuments()];

describeWhen({ "cloud-init's Python parser": hasCloudInit() })("the user-data reader against cloud-init's parser", () => {
  const parsed = parseWithCloudInit(documents.map(([, bytes]) => bytes));

  it.each(documents.map(([name], index) => [name, index] as const))("%s: same parts, types, file names and payloads", (_name, index) => {
    const ours = readUserDataBytes(documents[index][1]);
    expect(ours.kind).toBe("cloud-init");
    if (ours.kind !== "cloud-init") return;
    const theirs = parsed[index].map((part) => ({ contentType: part.contentType, filename: part.filename, payload: part.payload }));
    expect(ours.parts.map((part) => ({ contentType: part.contentType, filename: part.filename, payload: part.payload }))).toEqual(theirs);
  });
});

describe("user data encoded twice", () => {
  it("runs nothing, and the reason says the text is base64 and what it would have done", () => {
    const script = "#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n";
    const twice = Buffer.from(Buffer.from(script).toString("base64")).toString("base64");
    const judged = judge({ resourceType: "aws_launch_template", userData: { base64: twice }, metadataOptions: { httpEndpoint: "enabled", httpTokens: "optional" } }, { networkModes: ["awsvpc"] });
    expect(judged.modes.awsvpc?.verdict).toBe("open");
    expect(judged.modes.awsvpc?.reasons[0]).toBe(
      'part 1 (text/x-not-multipart "part-001") is base64 text, the user data encoded twice (base64encode() of text that is already base64, or base64 where the argument takes plain text): cloud-init does not decode it, so none of it runs; had it run, awsvpc mode would be closed',
    );
  });
});

describe("user data the reader refuses", () => {
  it("says a truncated gzip stream is damaged, without throwing", () => {
    const gz = gzipSync(Buffer.from("#!/bin/bash\necho hello\n".repeat(50)));
    const read = readUserDataBytes(gz.subarray(0, gz.length - 20));
    expect(read).toEqual({ kind: "unreadable", reason: expect.stringMatching(/gzip stream is damaged/) });
  });

  it("caps what it decompresses", () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x61));
    const started = Date.now();
    const read = readUserDataBytes(bomb);
    expect(read).toEqual({ kind: "unreadable", reason: expect.stringMatching(/decompresses to more than/) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("refuses MIME that is not UTF-8, as cloud-init fails on it", () => {
    const bytes = Buffer.concat([mime("--BOUND\nContent-Type: text/x-shellscript\n\n#!/bin/bash\n"), Buffer.from([0xff, 0xfe]), Buffer.from("\n--BOUND--\n")]);
    expect(readUserDataBytes(bytes).kind).toBe("unreadable");
  });
});

/** ecs-init's reading, written from its rules: each line Go-trimmed, split at the first =, last wins. */
describe("ecs.config as ecs-init reads it", () => {
  const space = fc.constantFrom("", " ", "\t", "\u00a0", "\u0085", "\u3000", "\r");
  const value = fc.constantFrom("true", "false", '"true"', "'true'", "TRUE", "True", "1", "t", "yes", "on", " true", "", "0");
  const line = fc.oneof(
    fc.tuple(space, fc.constant("ECS_AWSVPC_BLOCK_IMDS"), fc.constantFrom("=", " =", "= "), value, space).map(([a, k, eq, v, b]) => ({ text: `${a}${k}${eq}${v}${b}`, kind: "key" as const, a, eq, v, b })),
    fc.constantFrom("#ECS_AWSVPC_BLOCK_IMDS=false", "ECS_CLUSTER=prod", "no equals sign", "", "ECS_AWSVPC_BLOCK_IMDSX=true").map((text) => ({ text, kind: "other" as const, a: "", eq: "", v: "", b: "" })),
  );

  it("keeps the last copy of the key, quotes included, and parses booleans as Go does", () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
        const file = lines.map((l) => l.text).join("\n");
        // Independent statement of the rules: only lines whose key, after trimming, is exactly the
        // setting count (a space before "=" makes another key); the last one decides.
        const counted = lines.filter((l) => l.kind === "key" && !l.eq.startsWith(" "));
        const last = counted[counted.length - 1];
        const raw = last === undefined ? undefined : goTrimSpace(`${last.eq === "= " ? " " : ""}${last.v}${last.b}`);
        const expected = raw !== undefined && ["1", "t", "T", "TRUE", "true", "True"].includes(raw);
        return agentBoolean(readEcsConfig(file).get("ECS_AWSVPC_BLOCK_IMDS")) === expected;
      }),
      { numRuns: 500 },
    );
  });

  it("does not unquote", () => {
    expect(readEcsConfig('ECS_AWSVPC_BLOCK_IMDS="true"').get("ECS_AWSVPC_BLOCK_IMDS")).toBe('"true"');
    expect(agentBoolean('"true"')).toBe(false);
  });

  it("trims Go's white space, not JavaScript's", () => {
    expect(goTrimSpace("\u0085true\u0085")).toBe("true");
    expect(goTrimSpace("\ufefftrue")).toBe("\ufefftrue");
  });
});
