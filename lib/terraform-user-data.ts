import { Fn, IResolvable, IResolveContext, Op, Token } from "cdktf";
import { UserDataValidationError } from "./user-data/errors";

/**
 * Writes `text` as an HCL quoted string literal that Terraform reads back byte for byte.
 * cdktf's own escaping (`Fn.rawString`) leaves backslashes and `%{` untouched, which Terraform
 * would reject or read as template directives; shell scripts are full of both.
 */
export function hclStringLiteral(text: string): string {
  let body = "";
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === "\\") body += "\\\\";
    else if (char === '"') body += '\\"';
    else if (char === "\n") body += "\\n";
    else if (char === "\r") body += "\\r";
    else if (char === "\t") body += "\\t";
    else if (code < 0x20 || code === 0x7f) body += `\\u${code.toString(16).padStart(4, "0")}`;
    else body += char;
  }
  // `$${` and `%%{` are HCL's escapes for a literal `${` and `%{`.
  return `"${body.replace(/\$\{/g, "$$${").replace(/%\{/g, "%%{")}"`;
}

/** A literal string that cdktf places verbatim, already escaped, inside a Terraform expression. */
class HclStringLiteral implements IResolvable {
  readonly creationStack: string[] = [];
  constructor(private readonly text: string) {}

  resolve(_context: IResolveContext): string {
    return hclStringLiteral(this.text);
  }

  toString(): string {
    return Token.asString(this);
  }
}

/**
 * Splits `text` at every occurrence of `token` and returns the Terraform expression that joins the
 * literal pieces and the token back together. Throws when a literal piece still holds another
 * token: only the token given may be left for Terraform to fill.
 */
export function interpolatedText(text: string, token: string): string {
  const pieces = text.split(token);
  if (pieces.length < 2) {
    // The reference would reach the instance as the token's placeholder text instead of the value.
    throw new UserDataValidationError("userData", text, "does not hold the Terraform reference it should carry; only plain text parts can carry it");
  }
  if (text !== text.normalize("NFC")) {
    // Terraform holds every string in NFC; other text would reach the instance changed.
    throw new UserDataValidationError("userData", text, "holds text that is not in Unicode NFC, which Terraform would change");
  }
  const joined: string[] = [];
  pieces.forEach((piece, index) => {
    if (Token.isUnresolved(piece)) {
      throw new UserDataValidationError(
        "userData",
        piece,
        "holds a Terraform reference other than clusterName; only clusterName may be one",
      );
    }
    if (index > 0) joined.push(token);
    if (piece !== "") joined.push(Token.asString(new HclStringLiteral(piece)));
  });
  return Fn.join("", joined);
}

/**
 * The base64 user data Terraform computes from `text` with `token` filled in at plan time,
 * gzip-compressed first when `gzip` is set.
 */
export function userDataExpression(text: string, token: string, gzip: boolean): string {
  const joined = interpolatedText(text, token);
  return gzip ? Fn.base64gzip(joined) : Fn.base64encode(joined);
}

/**
 * A Terraform condition that holds when the base64 value `base64` decodes to at most `maxBytes`
 * bytes. Exact: n bytes encode to 4*ceil(n/3) characters of which (3 - n % 3) % 3 are `=`.
 */
export function decodedSizeAtMost(base64: string, maxBytes: number): IResolvable {
  const decodedBytes = Op.sub(Op.div(Op.mul(3, Fn.lengthOf(base64)), 4), Fn.lengthOf(Fn.regexall("=", base64)));
  return Op.lte(decodedBytes, maxBytes);
}
