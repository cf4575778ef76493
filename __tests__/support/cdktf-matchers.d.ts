// cdktf's Testing.setupJest() registers these matchers at run time; its own declaration does not
// match @types/jest 30's `Matchers<R, T>` and is not part of cdktf's main typings.
import type { TerraformConstructor } from "cdktf/lib/testing/matchers";

declare global {
  namespace jest {
    interface Matchers<R, T = {}> {
      toHaveResource(resourceConstructor: TerraformConstructor): R;
      toHaveResourceWithProperties(resourceConstructor: TerraformConstructor, properties: Record<string, any>): R;
      toHaveDataSource(dataSourceConstructor: TerraformConstructor): R;
      toHaveDataSourceWithProperties(dataSourceConstructor: TerraformConstructor, properties: Record<string, any>): R;
      toHaveProvider(providerConstructor: TerraformConstructor): R;
      toHaveProviderWithProperties(providerConstructor: TerraformConstructor, properties: Record<string, any>): R;
    }
  }
}
