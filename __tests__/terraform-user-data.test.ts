import fc from "fast-check";
import { hclStringLiteral } from "../lib";
import { literalTemplateText, parseHclExpression } from "./support/hcl";

describe("hclStringLiteral", () => {
  // Expected literals checked against Terraform's own reading (`terraform console`): `$${` and
  // `%%{` are the escapes of `${` and `%{`, even after other dollar signs.
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

  it("gives HCL's parser one purely literal template that reads back as the input", async () => {
    const shellish = fc.constantFrom("${", "%{", "$${", "%%{", "\\", '"', "\n", "\r", "\t", "}", "$", "%", "\u0000", "é", "😀");
    const text = fc.array(fc.oneof(shellish, fc.string({ unit: "grapheme" })), { maxLength: 20 }).map((pieces) => pieces.join(""));
    await fc.assert(
      fc.asyncProperty(text, async (input) => {
        const node = await parseHclExpression(hclStringLiteral(input));
        expect(literalTemplateText(node)).toBe(input);
      }),
      { numRuns: 300 },
    );
  });
});
