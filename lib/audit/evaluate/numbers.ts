/**
 * Terraform's arithmetic is decimal with 512-bit precision (0.1 + 0.2 is 0.3, 1/3 has 150 digits).
 * The audit computes in exact decimals and keeps a result only when a double holds it exactly.
 */
import { formatNumber } from "./values";

interface Decimal {
  readonly digits: bigint;
  /** The value is digits / 10^scale. */
  readonly scale: number;
}

function decimalOf(n: number): Decimal {
  const text = formatNumber(n);
  const [whole, fraction = ""] = text.replace("-", "").split(".");
  const digits = BigInt(whole + fraction) * (text.startsWith("-") ? -1n : 1n);
  return { digits, scale: fraction.length };
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.digits * 10n ** BigInt(scale - a.scale), b.digits * 10n ** BigInt(scale - b.scale), scale];
}

function text(d: Decimal): string {
  const negative = d.digits < 0n;
  let digits = (negative ? -d.digits : d.digits).toString();
  if (d.scale > 0) {
    digits = digits.padStart(d.scale + 1, "0");
    const point = digits.length - d.scale;
    digits = `${digits.slice(0, point)}.${digits.slice(point)}`.replace(/\.?0+$/, "");
  }
  return `${negative && digits !== "0" ? "-" : ""}${digits}`;
}

/** The double equal to the decimal, or undefined when no double is; a zero takes IEEE's sign, as Go's big.Float does. */
function exactly(d: Decimal, zeroSign = 1): number | undefined {
  if (d.digits === 0n) return zeroSign < 0 || Object.is(zeroSign, -0) ? -0 : 0;
  const written = text(d);
  const n = Number(written);
  return formatNumber(n) === written ? n : undefined;
}

/** Digits a quotient may have before it counts as not terminating (Terraform would print 150). */
const MAX_QUOTIENT_SCALE = 30;

export type Arithmetic = "add" | "subtract" | "multiply" | "divide" | "modulo";

/** a op b exactly, or undefined when Terraform's result is not a double the audit can hold; throws on division by zero. */
export function arithmetic(op: Arithmetic, x: number, y: number): number | undefined {
  const a = decimalOf(x);
  const b = decimalOf(y);
  // The sign a zero result has in IEEE arithmetic (-0 * 5 is -0, -0 + 0 is 0).
  const zero = (op: Arithmetic) => (op === "add" ? x + y : op === "subtract" ? x - y : op === "multiply" ? x * y : op === "divide" ? x / y : x % y);
  const [p, q, scale] = align(a, b);
  switch (op) {
    case "add":
      return exactly({ digits: p + q, scale }, zero(op));
    case "subtract":
      return exactly({ digits: p - q, scale }, zero(op));
    case "multiply":
      return exactly({ digits: a.digits * b.digits, scale: a.scale + b.scale }, zero(op));
    case "divide": {
      if (q === 0n) throw new RangeError("divide by zero");
      for (let extra = 0; extra <= MAX_QUOTIENT_SCALE; extra++) {
        const numerator = p * 10n ** BigInt(extra);
        if (numerator % q === 0n) return exactly({ digits: numerator / q, scale: extra }, zero(op));
      }
      return undefined;
    }
    case "modulo": {
      if (q === 0n) throw new RangeError("divide by zero");
      // Terraform's % keeps the dividend's sign (-7 % 3 is -1).
      return exactly({ digits: p % q, scale }, zero(op));
    }
  }
}
