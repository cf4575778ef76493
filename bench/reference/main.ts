// The yardstick of the benchmark: the project's default stack written the way the
// `cdktf init --template=typescript` project writes an app (the provider's package index imported
// whole, run by type-checked ts-node). It declares the same resources with the same user data, so
// the difference in cost is the template's way of loading and running code, nothing else.
import { Construct } from "constructs";
import { App, LocalBackend, TerraformStack } from "cdktf";
import * as aws from "@cdktf/provider-aws";
import { renderUserData } from "../../lib/user-data";

class ReferenceStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new LocalBackend(this, { path: "../../../terraform.ecs-imds-guard.tfstate" });
    new aws.provider.AwsProvider(this, "aws", { region: "us-east-1" });

    const ami = new aws.dataAwsSsmParameter.DataAwsSsmParameter(this, "ami", {
      name: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    });
    const userData = renderUserData({ clusterName: "default", networkModes: ["bridge", "awsvpc"] });

    const tags = { "ecs-imds-guard:network-modes": "bridge+awsvpc" };
    new aws.launchTemplate.LaunchTemplate(this, "guarded_launch_template", {
      namePrefix: "ecs-imds-guard-",
      description: "ECS container instances (al2023) with containers kept away from the instance metadata service",
      imageId: ami.insecureValue,
      instanceType: "t3.medium",
      userData: userData.base64,
      updateDefaultVersion: true,
      metadataOptions: {
        httpEndpoint: "enabled",
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        httpProtocolIpv6: "disabled",
        instanceMetadataTags: "disabled",
      },
      tagSpecifications: [
        { resourceType: "instance", tags },
        { resourceType: "volume", tags },
      ],
      tags,
    });
  }
}

const app = new App();
new ReferenceStack(app, "ecs-imds-guard");
app.synth();
