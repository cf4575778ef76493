/** The readers' public face: see read/. */
export * from "./read";
