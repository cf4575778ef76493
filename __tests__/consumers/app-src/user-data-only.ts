// The framework-free entry: renders user data without loading cdktf.
import { renderUserData } from "ecs-imds-guard/user-data";

// Without a RenderContext nothing is a token: `base64` is a string under `strict`, not string | undefined.
const base64: string = renderUserData({ clusterName: "prod" }).base64;
const frameworkLoaded = Object.keys(require.cache).some((path) => /[\\/]node_modules[\\/](cdktf|cdktn|constructs|@cdktf|@cdktn)[\\/]/.test(path));
process.stdout.write(JSON.stringify({ base64, frameworkLoaded }));
