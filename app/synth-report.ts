// What `npm run synth` tells the user after the app has written cdktf.out/: the lines the cdktf
// CLI prints for the same manifest (annotations, then the stacks), without running the CLI.

/** The parts of cdktf.out/manifest.json the report reads. */
export interface SynthManifest {
  readonly stacks: Readonly<
    Record<string, { readonly synthesizedStackPath: string; readonly annotations?: ReadonlyArray<{ readonly constructPath: string; readonly level: string; readonly message: string }> }>
  >;
}

// cdktf's annotation levels, as its CLI names them.
const LEVEL_NAMES: Readonly<Record<string, string>> = { "@cdktf/info": "INFO", "@cdktf/warn": "WARN", "@cdktf/error": "ERROR" };

/** The report's lines: each annotation as `LEVEL [path]: message`, then where each stack was written. */
export function synthReport(manifest: SynthManifest, outdir: string): string[] {
  const stacks = Object.entries(manifest.stacks);
  const annotations = stacks.flatMap(([, stack]) =>
    (stack.annotations ?? []).map((annotation) => `${LEVEL_NAMES[annotation.level] ?? annotation.level} [${annotation.constructPath}]: ${annotation.message}`),
  );
  const written = stacks.map(([name, stack]) => `  ${name}: ${outdir}/${stack.synthesizedStackPath}`);
  return [...annotations, `Generated Terraform code for the stacks:`, ...written];
}
