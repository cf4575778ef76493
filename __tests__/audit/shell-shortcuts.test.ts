/**
 * The shell reader builds the tree of plain command lines (joined by |, &&, || and ;, quoted
 * heredocs included) and comments without mvdan/sh. Over
 * generated lines and scripts, the tree it gives must be the tree the parser gives, whichever way
 * it was built.
 */
import fc from "fast-check";
import { parseShell, parseShellFully, plainSegment } from "../../lib/audit/shell";

// Characters that make a line plain, characters that make it shell syntax, and the places they go.
const plainCharacter = fc.constantFrom(..."aZ09_./:,%+@=-");
const specialCharacter = fc.constantFrom(..."$`\\\"'#;&|()<>*?[]{}~!^\r\u00e9");
const bareWord = fc.string({ unit: fc.oneof({ weight: 60, arbitrary: plainCharacter }, { weight: 1, arbitrary: specialCharacter }), minLength: 1, maxLength: 8 });
const quotedText = fc.string({ unit: fc.oneof({ weight: 30, arbitrary: plainCharacter }, { weight: 10, arbitrary: fc.constantFrom(" ", "\t", "#", "!", "*") }, { weight: 1, arbitrary: specialCharacter }), maxLength: 6 });
const wordPart = fc.oneof(
  { weight: 4, arbitrary: bareWord },
  { weight: 1, arbitrary: quotedText.map((text) => `'${text}'`) },
  { weight: 1, arbitrary: quotedText.map((text) => `"${text}"`) },
);
const word = fc.array(wordPart, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(""));
const commandName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("echo", "iptables", "sudo", "yum", "cat", "/usr/bin/env", "a=b", "2", "-x", "=x") },
  { weight: 1, arbitrary: fc.constantFrom("if", "then", "fi", "done", "in", "time", "export", "local", "declare", "let", "coproc", "function", "!", "{", "}", "[[", "[", "((") },
  { weight: 2, arbitrary: word },
);
const blanks = fc.constantFrom(" ", "  ", "\t", " \t ");
const redirection = fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(">", ">>") }, { weight: 1, arbitrary: fc.constantFrom("2>", "&>", ">|", "<", "<<<") }), fc.constantFrom("", " "), word).map(([op, space, target]) => `${op}${space}${target}`);
const simpleCommand = fc
  .tuple(
    commandName,
    fc.array(fc.tuple(blanks, word).map(([b, w]) => `${b}${w}`), { maxLength: 5 }),
    fc.array(fc.tuple(blanks, redirection).map(([b, r]) => `${b}${r}`), { maxLength: 2 }),
  )
  .map(([name, args, redirects]) => `${name}${args.join("")}${redirects.join("")}`);
// Operators between commands, written apart or not, and some that are not plain (`&`, `;;`, `|&`).
const operator = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(" | ", " && ", " || ", "; ", " ; ", "\t&&\t") },
  { weight: 1, arbitrary: fc.constantFrom(";", "|", "&&", " |", "| ", " & ", " ;; ", " |& ", " ! ", "  ") },
);
const commandLine = fc
  .tuple(
    fc.constantFrom("", " ", "\t"),
    simpleCommand,
    fc.array(fc.tuple(operator, simpleCommand), { maxLength: 3 }),
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom("", " ", "\t") }, { weight: 1, arbitrary: fc.constantFrom(" # a comment", ";", " ;", " &", " \\", " &&", " |") }),
  )
  .map(([indent, first, more, end]) => `${indent}${first}${more.map(([op, command]) => `${op}${command}`).join("")}${end}`);
// Lines of plain commands only, so that the operators between them are what decides.
const plainArgument = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: plainCharacter, minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom("'a b'", '"x y"', "''", '""', "/dev/null", "--now") },
);
const plainCommandList = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom("iptables", "sudo", "echo", "true", "systemctl", "x"), fc.array(plainArgument, { maxLength: 3 }), fc.constantFrom("", " > /f", " >> /etc/ecs/ecs.config")), { minLength: 2, maxLength: 4 }),
    fc.array(operator, { minLength: 3, maxLength: 3 }),
    fc.constantFrom("", ";", " ;", " &&", " |", " &"),
  )
  .map(([commands, operators, end]) => commands.map(([name, args, redirect], i) => `${i > 0 ? operators[i - 1] : ""}${[name, ...args].join(" ")}${redirect}`).join("") + end);
const bodyLine = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: fc.oneof({ weight: 20, arbitrary: plainCharacter }, { weight: 4, arbitrary: fc.constantFrom(" ", "\t", '"', "'") }, { weight: 1, arbitrary: specialCharacter }), maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "EOF", " EOF", "\tEOF", "EOF ", "ECS_CLUSTER=prod", "$HOME", "# not a comment") },
);
const heredocCommand = fc
  .tuple(
    commandName,
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom("<<'EOF'", '<<"EOF"', "<< 'EOF'") }, { weight: 1, arbitrary: fc.constantFrom("<<EOF", "<<-'EOF'", "<<'E OF'", "<<'EOF'x") }),
    fc.constantFrom("", " > /etc/ecs/ecs.config", " >> /etc/ecs/ecs.config", " | tee /f"),
    fc.array(bodyLine, { maxLength: 4 }),
    fc.oneof({ weight: 6, arbitrary: fc.constant("EOF") }, { weight: 1, arbitrary: fc.constantFrom("EOF ", "\tEOF", "") }),
  )
  .map(([name, opener, redirect, body, close]) => [`${name} ${opener}${redirect}`, ...body, close].join("\n"));
const commentLine = fc.constantFrom("", "   ", "# Set iptables configuration", "  # indented", "#!/bin/bash", "# ends in a backslash \\", "#\tx");
const line = fc.oneof({ weight: 4, arbitrary: commandLine }, { weight: 2, arbitrary: plainCommandList }, { weight: 1, arbitrary: commentLine }, { weight: 1, arbitrary: heredocCommand });

describe("plain command lines read without the parser", () => {
  it("give the tree mvdan/sh gives the line", () => {
    fc.assert(
      fc.property(line, (text) => {
        expect({ text, tree: parseShell(text) }).toEqual({ text, tree: parseShellFully(text) });
      }),
      // Found by a run: a heredoc opened before a pipe, never closed (mvdan/sh refuses it).
      { numRuns: 3000, examples: [["echo <<'EOF' | tee /f\n"], ["cat <<'EOF' > /f | tee /g\nx\nEOF"]] },
    );
  });

  it("give the tree mvdan/sh gives the whole script they are part of", () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
        const script = `${lines.join("\n")}\n`;
        expect({ script, tree: parseShell(script) }).toEqual({ script, tree: parseShellFully(script) });
      }),
      { numRuns: 1000 },
    );
  });

  it("cover the lines that differ between the templates of a fleet", () => {
    // The measured shapes: these must not need the parser, or the fleet pays it per template.
    for (const text of [
      "echo ECS_CLUSTER=cluster-42 >> /etc/ecs/ecs.config",
      'echo "ECS_CLUSTER=cluster-42" >> /etc/ecs/ecs.config',
      "# Set any ECS agent configuration options",
      "cat <<'EOF_CONFIG' >> /etc/ecs/ecs.config\nECS_CLUSTER=cluster-42\nECS_AWSVPC_BLOCK_IMDS=\"true\"\nEOF_CONFIG",
      "sudo iptables-save | sudo tee /etc/sysconfig/iptables && sudo systemctl enable --now iptables",
      "sudo yum install -y iptables-services; sudo iptables --insert DOCKER-USER 1 --in-interface docker+ --destination 169.254.169.254/32 --jump DROP",
      "iptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER",
    ]) {
      expect(plainSegment(text)).toEqual(parseShellFully(text));
    }
  });
});
