import fc from "fast-check";

/**
 * Random Terraform expressions (HCL source) from a typed grammar: strings, numbers, bools, lists of
 * strings and maps of strings, built with the constructs user data is written with (templates with
 * directives and strip markers, heredocs, conditionals, for expressions, operators, function calls).
 * `var.u` (a string Terraform knows only at apply time) appears now and then; `var.k` is "known".
 */
export interface Expressions {
  readonly str: fc.Arbitrary<string>;
  readonly num: fc.Arbitrary<string>;
  readonly bool: fc.Arbitrary<string>;
  readonly list: fc.Arbitrary<string>;
  readonly map: fc.Arbitrary<string>;
}

// Characters of quoted templates, as written in HCL source: escapes included, no "{" (so no accidental "${").
const QUOTED_CHARS = ["a", "b", "Z", " ", "  ", "-", "_", ".", ",", ":", "é", "\\n", "\\t", '\\"', "\\\\", "$${", "%%{", "}", "~", "$", "%", "#!", "/"];
// Characters of heredoc lines: no escapes there, a backslash is a backslash.
const HEREDOC_CHARS = ["a", "b", " ", "-", "é", "\\n", "=", "$${", "%%{", "}", "#"];
const KEYS = ["a", "b", "web", "api"];
// One depth for all types: an expression nests at most this deep, whatever its parts are.
const DEPTH = fc.createDepthIdentifier();

const literalText = (chars: readonly string[], max: number) => fc.array(fc.constantFrom(...chars), { maxLength: max }).map((parts) => parts.join(""));

/** A fresh name for each for-loop's symbol, so that nested loops never shadow. */
let symbolCount = 0;
const symbol = () => fc.constant(null).map(() => `s${symbolCount++}`);

/** `unknownWeight`: how often a string is `var.u`, against 1 for each other form. */
export function terraformExpressions(unknownWeight = 1): Expressions {
  const tree = fc.letrec<{ str: string; num: string; bool: string; list: string; map: string; part: string; line: string }>((tie) => {
    const str = tie("str");
    const num = tie("num");
    const bool = tie("bool");
    const list = tie("list");
    const map = tie("map");
    const part = tie("part");
    const line = tie("line");
    const strip = fc.boolean().map((b) => (b ? "~" : ""));
    const quoted = literalText(QUOTED_CHARS, 6).map((t) => `"${t}"`);
    const smallInt = fc.integer({ min: 0, max: 12 }).map(String);
    return {
      // One part of a template: literal text, an interpolation or a directive.
      part: fc.oneof(
        { depthSize: "small", withCrossShrink: true, maxDepth: 5, depthIdentifier: DEPTH },
        literalText(QUOTED_CHARS, 5),
        fc.tuple(strip, str, strip).map(([l, s, r]) => `\${${l} ${s} ${r}}`),
        num.map((n) => `\${${n}}`),
        fc
          .tuple(strip, bool, strip, fc.array(part, { maxLength: 3 }), fc.boolean(), strip, fc.array(part, { maxLength: 3 }), strip)
          .map(([a, b, c, yes, hasElse, d, no, e]) => `%{${a} if ${b} ${c}}${yes.join("")}${hasElse ? `%{${d} else ${d}}${no.join("")}` : ""}%{${e} endif ${e}}`),
        fc
          .tuple(symbol(), list, strip, fc.array(part, { maxLength: 2 }), strip)
          .map(([s, l, a, body, b]) => `%{ for ${s} in ${l} ${a}}\${${s}}${body.join("")}%{${b} endfor }`),
      ),
      // One heredoc line: indentation, then literal text and interpolations.
      line: fc
        .tuple(fc.constantFrom("", " ", "  ", "    "), fc.array(fc.oneof(literalText(HEREDOC_CHARS, 4), str.map((s) => `\${${s}}`)), { maxLength: 3 }))
        .map(([indent, parts]) => indent + parts.join("")),
      str: fc.oneof(
        { depthSize: "small", withCrossShrink: true, maxDepth: 5, depthIdentifier: DEPTH },
        quoted,
        fc.constantFrom('"#!/bin/bash"', '""', "var.k", "var.u", '"ECS_CLUSTER=prod"'),
        { arbitrary: fc.constant("var.u"), weight: unknownWeight },
        fc.array(part, { maxLength: 4 }).map((parts) => `"${parts.join("")}"`),
        fc
          .tuple(fc.constantFrom("<<EOT", "<<-EOT"), fc.array(line, { minLength: 1, maxLength: 4 }), fc.constantFrom("", "  "))
          .map(([open, lines, indent]) => `${open}\n${lines.join("\n")}\n${open === "<<EOT" ? "" : indent}EOT\n`),
        fc.constantFrom("upper", "lower", "trimspace", "chomp", "title", "base64encode", "sha1", "urlencode").chain((f) => str.map((s) => `${f}(${s})`)),
        fc.tuple(str, quoted, quoted).map(([s, a, b]) => `replace(${s}, ${a}, ${b})`),
        fc.tuple(str, fc.constantFrom('"/a+/"', '"/(b)(a)?/"', '"/\\\\s+/"'), fc.constantFrom('"-"', '"[$1]"', '"$${1}x"')).map(([s, re, r]) => `replace(${s}, ${re}, ${r})`),
        fc.tuple(fc.constantFrom('"%s|%v"', '"%q=%5v"', '"%-4s.%v"', '"%v %%"'), str, num).map(([f, s, n]) => (f.endsWith(' %%"') ? `format(${f}, ${s})` : `format(${f}, ${s}, ${n})`)),
        fc.tuple(fc.constantFrom('"%d"', '"%03d"', '"%+d"'), smallInt).map(([f, n]) => `format(${f}, ${n})`),
        fc.tuple(quoted, list).map(([sep, l]) => `join(${sep}, ${l})`),
        fc.tuple(fc.integer({ min: 0, max: 4 }), str).map(([n, s]) => `indent(${n}, ${s})`),
        fc.tuple(str, fc.integer({ min: -3, max: 3 }), fc.integer({ min: -1, max: 4 })).map(([s, o, l]) => `try(substr(${s}, ${o}, ${l}), "short")`),
        fc.tuple(fc.constantFrom("trimprefix", "trimsuffix", "trim"), str, quoted).map(([f, s, q]) => `${f}(${s}, ${q})`),
        fc.tuple(list, smallInt).map(([l, n]) => `element(concat(${l}, ["last"]), ${n})`),
        fc.tuple(map, str, str).map(([m, k, d]) => `lookup(${m}, ${k}, ${d})`),
        fc.tuple(map, fc.constantFrom(...KEYS)).map(([m, k]) => `try(${m}["${k}"], "none")`),
        fc.tuple(list, fc.integer({ min: 0, max: 3 })).map(([l, i]) => `try(${l}[${i}], "none")`),
        fc.tuple(str, str).map(([a, b]) => `coalesce(${a}, ${b}, "c")`),
        fc.tuple(str, str).map(([a, b]) => `try(${a}, ${b})`),
        fc.oneof(list, map, str).map((v) => `jsonencode(${v})`),
        fc.oneof(list, map).map((v) => `yamlencode(${v})`),
        num.map((n) => `tostring(${n})`),
        fc.tuple(bool, str, str).map(([b, x, y]) => `${b} ? ${x} : ${y}`),
        fc.tuple(symbol(), list, str).map(([s, l, sep]) => `join(${sep}, [for ${s} in ${l} : upper(${s})])`),
        str.map((s) => `base64decode(base64encode(${s}))`),
        str.map((s) => `(${s})`),
      ),
      num: fc.oneof(
        { depthSize: "small", withCrossShrink: true, maxDepth: 5, depthIdentifier: DEPTH },
        smallInt,
        fc.tuple(num, fc.constantFrom("+", "-", "*"), num).map(([a, op, b]) => `${a} ${op} ${b}`),
        fc.tuple(num, fc.constantFrom("/", "%"), smallInt).map(([a, op, b]) => `(${a}) ${op} ${Number(b) + 1}`),
        fc.oneof(str, list, map).map((v) => `length(${v})`),
        fc.tuple(num, num).map(([a, b]) => `max(${a}, ${b})`),
        fc.tuple(num, num).map(([a, b]) => `min(${a}, ${b})`),
        fc.tuple(bool, num, num).map(([b, x, y]) => `${b} ? ${x} : ${y}`),
        num.map((n) => `-(${n})`),
        smallInt.map((n) => `tonumber("${n}")`),
      ),
      bool: fc.oneof(
        { depthSize: "small", withCrossShrink: true, maxDepth: 5, depthIdentifier: DEPTH },
        fc.constantFrom("true", "false"),
        fc.tuple(num, fc.constantFrom("<", "<=", ">", ">=", "==", "!="), num).map(([a, op, b]) => `${a} ${op} ${b}`),
        fc.tuple(str, fc.constantFrom("==", "!="), str).map(([a, op, b]) => `${a} ${op} ${b}`),
        fc.tuple(bool, fc.constantFrom("&&", "||"), bool).map(([a, op, b]) => `(${a}) ${op} (${b})`),
        bool.map((b) => `!(${b})`),
        fc.tuple(list, str).map(([l, s]) => `contains(${l}, ${s})`),
        fc.tuple(fc.constantFrom("startswith", "endswith", "strcontains"), str, str).map(([f, a, b]) => `${f}(${a}, ${b})`),
        fc.tuple(list, fc.integer({ min: 0, max: 3 })).map(([l, i]) => `can(${l}[${i}])`),
      ),
      list: fc.oneof(
        { depthSize: "small", withCrossShrink: true, maxDepth: 5, depthIdentifier: DEPTH },
        fc.array(str, { maxLength: 3 }).map((items) => `[${items.join(", ")}]`),
        fc.tuple(quoted, str).map(([sep, s]) => `split(${sep}, ${s})`),
        fc.tuple(list, list).map(([a, b]) => `concat(${a}, ${b})`),
        fc.tuple(symbol(), list, str).map(([s, l, v]) => `[for ${s} in ${l} : "\${${s}}\${${v}}"]`),
        fc.tuple(symbol(), list, bool).map(([s, l, b]) => `[for ${s} in ${l} : ${s} if ${b}]`),
        fc.tuple(symbol(), symbol(), map).map(([k, v, m]) => `[for ${k}, ${v} in ${m} : "\${${k}}=\${${v}}"]`),
        fc.constantFrom("reverse", "sort", "distinct", "compact", "tolist").chain((f) => list.map((l) => `${f}(${l})`)),
        fc.constantFrom("keys", "values").chain((f) => map.map((m) => `${f}(${m})`)),
        fc.tuple(fc.constantFrom('"%s-x"', '"[%v]"'), list).map(([f, l]) => `formatlist(${f}, ${l})`),
        fc.tuple(list, list).map(([a, b]) => `flatten([${a}, [${b}]])`),
        fc.tuple(bool, list, list).map(([b, x, y]) => `${b} ? ${x} : ${y}`),
        fc.tuple(list, fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 })).map(([l, a, b]) => `try(slice(${l}, ${a}, ${b}), [])`),
        map.map((m) => `try([${m}][*].a, [])`),
      ),
      map: fc.oneof(
        { depthSize: "small", withCrossShrink: true, maxDepth: 5, depthIdentifier: DEPTH },
        fc
          .uniqueArray(fc.tuple(fc.constantFrom(...KEYS), str), { maxLength: 3, selector: ([k]) => k })
          .map((entries) => `{ ${entries.map(([k, v], i) => (i % 2 ? `"${k}" = ${v}` : `${k} = ${v}`)).join(", ")} }`),
        fc.tuple(map, map).map(([a, b]) => `merge(${a}, ${b})`),
        fc.tuple(symbol(), symbol(), symbol(), list).map(([s, k, v, l]) => `{ for ${k}, ${v} in { for ${s} in ${l} : ${s} => upper(${s})... } : ${k} => join("+", ${v}) }`),
        fc.tuple(symbol(), symbol(), map, str).map(([k, v, m, s]) => `{ for ${k}, ${v} in ${m} : "\${${k}}\${${s}}" => ${v} }`),
        fc.tuple(symbol(), list).map(([s, l]) => `zipmap(${l}, [for ${s} in ${l} : "\${${s}}!"])`),
      ),
    };
  });
  return { str: tree.str, num: tree.num, bool: tree.bool, list: tree.list, map: tree.map };
}
