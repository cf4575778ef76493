import { describeConsumer } from "./consumer-suite";

describeConsumer("cdktf-0.21");
