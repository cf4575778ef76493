import fc from "fast-check";
import { hclStringLiteral } from "../lib";
import { TERRAFORM, withTerraform } from "./support/terraform";
import { describeWhen, hasProgram } from "./support/tools";

/** The bytes Terraform reads from each HCL literal, by `terraform console` (base64 keeps every byte). */
function readByTerraform(literals: readonly string[]): Buffer[] {
  const values = withTerraform({}, (workspace) => workspace.console(literals.map((literal) => `base64encode(${literal})`)));
  return values.map((value) => Buffer.from(value as string, "base64"));
}

describe("hclStringLiteral", () => {
  // `$${` and `%%{` are HCL's escapes of `${` and `%{`, even after other dollar signs.
  it.each([
    ["echo ${HOME}", '"echo $${HOME}"'],
    ["%{if x}", '"%%{if x}"'],
    ["$${already}", '"$$${already}"'],
    ['say "hi"\\n', '"say \\"hi\\"\\\\n"'],
    ["a\tb\r\nc", '"a\\tb\\r\\nc"'],
    ["bell\u0007", '"bell\\u0007"'],
    ["$ and % alone, a$ {b}", '"$ and % alone, a$ {b}"'],
  ])("writes %j as %s", (text, literal) => {
    expect(hclStringLiteral(text)).toBe(literal);
  });
});

describeWhen({ terraform: hasProgram(TERRAFORM) })("hclStringLiteral read by Terraform", () => {
  // Terraform holds every string in Unicode NFC (cty normalizes), so text reads back as its NFC
  // form; the renderer hands Terraform ASCII only (non-ASCII parts travel as base64).
  it("gives Terraform literals that it reads back as the input, byte for byte in NFC", () => {
    const shellish = fc.constantFrom("${", "%{", "$${", "%%{", "\\", '"', "\n", "\r", "\t", "}", "$", "%", "\u0000", "\u007f", "é", "e\u0301", "😀", "\u2028");
    const text = fc.array(fc.oneof(shellish, fc.string({ unit: "grapheme" })), { maxLength: 20 }).map((pieces) => pieces.join(""));
    const inputs = [
      "echo ${HOME}",
      "%{if x}",
      "$${already}",
      'say "hi"\\n',
      "a\tb\r\nc",
      "bell\u0007",
      "",
      ...fc.sample(text, { numRuns: 300, seed: 20261129 }),
    ];
    const read = readByTerraform(inputs.map(hclStringLiteral));
    inputs.forEach((input, index) => {
      expect([input, read[index].toString("hex")]).toEqual([input, Buffer.from(input.normalize("NFC"), "utf8").toString("hex")]);
    });
  });
});
