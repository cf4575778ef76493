export * from "./types";
export { judge, FIXES } from "./judge";
export { readUserDataBytes, decodeBase64, EC2_USER_DATA_LIMIT, MAX_DECOMPRESSED_BYTES } from "./user-data";
export type { CloudInitPart, ReadUserData } from "./user-data";
export { readEcsConfigAsEcsInit, goTrimSpace, goParseBool, agentBoolean } from "./go";
