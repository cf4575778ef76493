// The framework-free entry: renders user data without loading cdktf.
import { renderUserData } from "ecs-imds-guard/user-data";

const userData = renderUserData({ clusterName: "prod" });
const frameworkLoaded = Object.keys(require.cache).some((path) => /[\\/]node_modules[\\/](cdktf|cdktn|constructs|@cdktf|@cdktn)[\\/]/.test(path));
process.stdout.write(JSON.stringify({ base64: userData.base64, frameworkLoaded }));
