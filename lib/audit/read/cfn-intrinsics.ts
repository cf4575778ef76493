/**
 * CloudFormation's intrinsic functions, evaluated as far as a template alone knows them: parameter
 * defaults, mappings, conditions over them, and the functions that combine values (`Fn::Base64`,
 * `Fn::Join`, `Fn::Sub`, `Fn::If`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, ...). What is known
 * only when the stack deploys (a resource's `Ref` or `Fn::GetAtt`, a pseudo parameter, a parameter
 * without default, an SSM parameter's value, a `{{resolve:...}}` dynamic reference) stays a
 * `DeployTime` value, and a mark (U+E000 what U+E001) inside text: never read as script text.
 */
import { UNKNOWN_END, UNKNOWN_START } from "../evaluate/expression";

/** A value known only when the stack deploys, naming what it is (`Ref Cluster`, `Fn::GetAtt Role.Arn`). */
export class DeployTime {
  constructor(readonly what: string) {}
}

/** The text `Fn::Base64` encodes: kept as text so user data stays readable with its marks. */
export class Base64Of {
  constructor(readonly text: string) {}
}

/** A value of an evaluated template. */
export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue } | DeployTime | Base64Of;

/** A template CloudFormation itself would refuse: an intrinsic with the wrong arguments. */
export class TemplateError extends Error {}

/** `AWS::NoValue`: the property or list element is removed. */
const NO_VALUE = Symbol("AWS::NoValue");
type Evaluated = CfnValue | typeof NO_VALUE;

/** A template's parameter as the evaluator reads it. */
export interface CfnParameter {
  readonly Type?: string;
  readonly Default?: unknown;
}

/** What the intrinsics read from the template. */
export interface CfnTemplateContext {
  readonly parameters: Readonly<Record<string, CfnParameter>>;
  readonly mappings: Readonly<Record<string, unknown>>;
  readonly conditions: Readonly<Record<string, unknown>>;
  readonly resources: ReadonlySet<string>;
  /** Parameters whose value the parent stack sets (a nested stack): known only at deploy time. */
  readonly givenByParent?: ReadonlySet<string>;
  /** Parameter values given for the deployment (`--var NAME=VALUE`), over the defaults. */
  readonly given?: Readonly<Record<string, string>>;
}

const mark = (what: string) => `${UNKNOWN_START}${what.replace(/[\ue000\ue001\n]/g, " ")}${UNKNOWN_END}`;
const DYNAMIC_REFERENCE = /\{\{resolve:[^}]*\}\}/g;
const SSM_PARAMETER_TYPE = /^AWS::SSM::Parameter::Value<(.+)>$/;

/** Evaluates template values against one template's parameters, mappings and conditions. */
export class CfnEvaluator {
  private readonly conditionValues = new Map<string, boolean | DeployTime>();
  private readonly conditionsInProgress = new Set<string>();

  constructor(private readonly context: CfnTemplateContext) {}

  /** A value with every intrinsic evaluated; `AWS::NoValue` at the top reads as null (unset). */
  evaluate(raw: unknown): CfnValue {
    const value = this.value(raw);
    return value === NO_VALUE ? null : value;
  }

  /** A condition of the `Conditions` section: true, false, or known only at deploy time. */
  condition(name: string): boolean | DeployTime {
    const known = this.conditionValues.get(name);
    if (known !== undefined) return known;
    if (!Object.hasOwn(this.context.conditions, name)) throw new TemplateError(`the condition ${name} is not in the template's Conditions`);
    if (this.conditionsInProgress.has(name)) throw new TemplateError(`the condition ${name} depends on itself`);
    this.conditionsInProgress.add(name);
    try {
      const value = this.conditionValue(this.context.conditions[name]);
      this.conditionValues.set(name, value);
      return value;
    } finally {
      this.conditionsInProgress.delete(name);
    }
  }

  /**
   * The SSM parameter a `Ref` names when it is a parameter of an `AWS::SSM::Parameter::Value<...>`
   * type with a default (what CloudFormation resolves at deploy time), or undefined.
   */
  ssmParameterOf(raw: unknown): string | undefined {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
    const keys = Object.keys(raw);
    if (keys.length !== 1 || keys[0] !== "Ref") return undefined;
    const name = String((raw as { Ref: unknown }).Ref);
    const parameter = Object.hasOwn(this.context.parameters, name) ? this.context.parameters[name] : undefined;
    if (!parameter || !SSM_PARAMETER_TYPE.test(parameter.Type ?? "")) return undefined;
    const value = this.valueOf(name, parameter);
    return typeof value === "string" ? value : undefined;
  }

  private value(raw: unknown): Evaluated {
    if (raw === undefined || raw === null) return null;
    if (typeof raw === "string") return raw.replace(DYNAMIC_REFERENCE, (reference) => mark(reference));
    if (typeof raw === "number" || typeof raw === "boolean") return raw;
    if (raw instanceof DeployTime || raw instanceof Base64Of) return raw;
    if (Array.isArray(raw)) return raw.map((element) => this.value(element)).filter((element): element is CfnValue => element !== NO_VALUE);
    const record = raw as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && (keys[0] === "Ref" || keys[0].startsWith("Fn::") || keys[0] === "Condition")) {
      if (keys[0] !== "Condition") return this.intrinsic(keys[0], record[keys[0]]);
    }
    const out: Record<string, CfnValue> = {};
    for (const key of keys) {
      const value = this.value(record[key]);
      if (value !== NO_VALUE) out[key] = value;
    }
    return out;
  }

  private intrinsic(name: string, argument: unknown): Evaluated {
    switch (name) {
      case "Ref":
        return this.ref(argument);
      case "Fn::GetAtt": {
        const [resource, attribute] = typeof argument === "string" ? splitOnce(argument, ".") : Array.isArray(argument) ? argument : [];
        if (typeof resource !== "string") throw new TemplateError(`Fn::GetAtt ${JSON.stringify(argument)}: expected [LogicalName, Attribute]`);
        const attributeText = typeof attribute === "string" ? attribute : this.text(this.value(attribute), "Fn::GetAtt's attribute");
        return new DeployTime(`Fn::GetAtt ${resource}.${attributeText}`);
      }
      case "Fn::Base64": {
        return new Base64Of(this.text(this.value(argument), "Fn::Base64's value"));
      }
      case "Fn::Join": {
        const [delimiter, list] = this.pair(argument, "Fn::Join", "[delimiter, [values]]");
        const separator = this.text(this.value(delimiter), "Fn::Join's delimiter");
        const values = this.value(list);
        if (values instanceof DeployTime) return new DeployTime(`Fn::Join over ${values.what}`);
        if (!Array.isArray(values)) throw new TemplateError(`Fn::Join's second argument is not a list`);
        return values.map((element) => this.text(element, "an element of Fn::Join")).join(separator);
      }
      case "Fn::Sub":
        return this.sub(argument);
      case "Fn::If": {
        if (!Array.isArray(argument) || argument.length !== 3 || typeof argument[0] !== "string") throw new TemplateError(`Fn::If ${JSON.stringify(argument).slice(0, 80)}: expected [condition, value if true, value if false]`);
        const condition = this.condition(argument[0]);
        if (condition instanceof DeployTime) {
          const [whenTrue, whenFalse] = [this.value(argument[1]), this.value(argument[2])];
          if (JSON.stringify(whenTrue) === JSON.stringify(whenFalse) && !(whenTrue instanceof DeployTime)) return whenTrue as Evaluated;
          return new DeployTime(`Fn::If ${argument[0]} (${condition.what})`);
        }
        return this.value(condition ? argument[1] : argument[2]);
      }
      case "Fn::Select": {
        const [index, list] = this.pair(argument, "Fn::Select", "[index, [values]]");
        const at = this.value(index);
        const values = this.value(list);
        if (at instanceof DeployTime) return new DeployTime(`Fn::Select ${at.what}`);
        const position = Number(at);
        if (values instanceof DeployTime) return new DeployTime(`Fn::Select ${position} of ${values.what}`);
        if (!Array.isArray(values)) throw new TemplateError(`Fn::Select's second argument is not a list`);
        if (!Number.isInteger(position) || position < 0 || position >= values.length) throw new TemplateError(`Fn::Select index ${String(at)} is outside the list of ${values.length}`);
        return values[position];
      }
      case "Fn::Split": {
        const [delimiter, source] = this.pair(argument, "Fn::Split", "[delimiter, text]");
        const separator = this.text(this.value(delimiter), "Fn::Split's delimiter");
        const value = this.value(source);
        if (value instanceof DeployTime) return new DeployTime(`Fn::Split of ${value.what}`);
        return splitKeepingMarks(this.text(value, "Fn::Split's text"), separator);
      }
      case "Fn::FindInMap":
        return this.findInMap(argument);
      case "Fn::ToJsonString": {
        const value = this.value(argument);
        return hasDeployTime(value) ? new DeployTime("Fn::ToJsonString of values known only at deploy time") : JSON.stringify(value === NO_VALUE ? null : value);
      }
      case "Fn::Length": {
        const value = this.value(argument);
        if (Array.isArray(value)) return value.length;
        return new DeployTime(`Fn::Length of ${value instanceof DeployTime ? value.what : "a value that is not a list"}`);
      }
      case "Fn::Equals":
      case "Fn::And":
      case "Fn::Or":
      case "Fn::Not":
        return this.conditionValue({ [name]: argument });
      case "Fn::GetAZs":
      case "Fn::ImportValue":
      case "Fn::Cidr":
      case "Fn::Transform":
      case "Fn::GetStackOutput":
        return new DeployTime(argument === "" ? name : `${name} ${typeof argument === "string" ? argument : JSON.stringify(argument).slice(0, 60)}`);
      default:
        return new DeployTime(`${name}, which the audit does not evaluate`);
    }
  }

  private ref(argument: unknown): Evaluated {
    if (typeof argument !== "string") throw new TemplateError(`Ref ${JSON.stringify(argument)}: expected a parameter or resource name`);
    if (argument === "AWS::NoValue") return NO_VALUE;
    if (argument.startsWith("AWS::")) return new DeployTime(`Ref ${argument}`);
    const parameter = Object.hasOwn(this.context.parameters, argument) ? this.context.parameters[argument] : undefined;
    if (parameter !== undefined) {
      if (this.context.givenByParent?.has(argument)) return new DeployTime(`Ref ${argument}, set by the parent stack`);
      const value = this.valueOf(argument, parameter);
      if (SSM_PARAMETER_TYPE.test(parameter.Type ?? "")) {
        return new DeployTime(typeof value === "string" ? `Ref ${argument}, the SSM parameter ${value}` : `Ref ${argument}`);
      }
      if (value === undefined || value === null) return new DeployTime(`Ref ${argument}, a parameter without default`);
      const text = String(value);
      return /^(CommaDelimitedList|List<)/.test(parameter.Type ?? "") ? text.split(",") : text;
    }
    if (this.context.resources.has(argument)) return new DeployTime(`Ref ${argument}`);
    throw new TemplateError(`Ref ${argument}: not a parameter, resource or pseudo parameter of this template`);
  }

  /** A parameter's value: the one given for the deployment, else its default. */
  private valueOf(name: string, parameter: CfnParameter): unknown {
    return this.context.given !== undefined && Object.hasOwn(this.context.given, name) ? this.context.given[name] : parameter.Default;
  }

  private sub(argument: unknown): Evaluated {
    const [template, variables] = typeof argument === "string" ? [argument, {}] : Array.isArray(argument) && argument.length === 2 ? argument : [undefined, undefined];
    if (typeof template !== "string" || typeof variables !== "object" || variables === null || Array.isArray(variables)) {
      throw new TemplateError(`Fn::Sub ${JSON.stringify(argument).slice(0, 80)}: expected a text or [text, {variables}]`);
    }
    const given = variables as Record<string, unknown>;
    return template.replace(DYNAMIC_REFERENCE, (reference) => mark(reference)).replace(/\$\{([^}]*)\}/g, (_whole, inner: string) => {
      // ${!Literal} writes ${Literal}.
      if (inner.startsWith("!")) return `\${${inner.slice(1)}}`;
      const name = inner.trim();
      if (Object.prototype.hasOwnProperty.call(given, name)) return this.text(this.value(given[name]), `the Fn::Sub variable ${name}`);
      if (name.includes(".") && !name.startsWith("AWS::")) {
        const [resource, attribute] = splitOnce(name, ".");
        return mark(`Fn::GetAtt ${resource}.${attribute}`);
      }
      return this.text(this.ref(name), `\${${name}} in Fn::Sub`);
    });
  }

  private findInMap(argument: unknown): Evaluated {
    if (!Array.isArray(argument) || argument.length < 3) throw new TemplateError(`Fn::FindInMap ${JSON.stringify(argument).slice(0, 80)}: expected [MapName, TopLevelKey, SecondLevelKey]`);
    const keys = argument.slice(0, 3).map((key) => this.value(key));
    const defaultValue = argument[3] as { DefaultValue?: unknown } | undefined;
    const unknown = keys.find((key): key is DeployTime => key instanceof DeployTime);
    if (unknown) return new DeployTime(`Fn::FindInMap ${keys.map((key) => (key instanceof DeployTime ? key.what : String(key))).join(" / ")}`);
    const [map, top, second] = keys.map((key) => this.text(key, "a key of Fn::FindInMap"));
    const own = (record: unknown, key: string): unknown => (typeof record === "object" && record !== null && Object.hasOwn(record, key) ? (record as Record<string, unknown>)[key] : undefined);
    const found = own(own(this.context.mappings, map), top) === undefined ? undefined : own(own(own(this.context.mappings, map), top), second);
    if (found === undefined) {
      if (defaultValue && typeof defaultValue === "object" && "DefaultValue" in defaultValue) return this.value(defaultValue.DefaultValue);
      throw new TemplateError(`Fn::FindInMap ${map} / ${top} / ${second}: no such entry in Mappings`);
    }
    return this.value(found);
  }

  private conditionValue(raw: unknown): boolean | DeployTime {
    if (typeof raw === "boolean") return raw;
    if (typeof raw === "string" && (raw === "true" || raw === "false")) return raw === "true";
    if (typeof raw !== "object" || raw === null || Array.isArray(raw) || Object.keys(raw).length !== 1) throw new TemplateError(`${JSON.stringify(raw).slice(0, 80)} is not a condition`);
    const [name, argument] = Object.entries(raw as Record<string, unknown>)[0];
    const list = (count?: number): unknown[] => {
      if (!Array.isArray(argument) || (count !== undefined && argument.length !== count)) throw new TemplateError(`${name} ${JSON.stringify(argument).slice(0, 80)}: expected a list${count !== undefined ? ` of ${count}` : ""}`);
      return argument;
    };
    switch (name) {
      case "Condition":
        return this.condition(String(argument));
      case "Fn::Equals": {
        const [a, b] = list(2).map((side) => this.value(side));
        if (hasDeployTime(a) || hasDeployTime(b)) return new DeployTime(`Fn::Equals over ${[a, b].map(describe).filter(Boolean).join(", ")}`);
        return JSON.stringify(scalarText(a)) === JSON.stringify(scalarText(b));
      }
      case "Fn::Not": {
        const [inner] = list(1).map((condition) => this.conditionValue(condition));
        return inner instanceof DeployTime ? inner : !inner;
      }
      case "Fn::And":
      case "Fn::Or": {
        const values = list().map((condition) => this.conditionValue(condition));
        const decisive = name === "Fn::And" ? false : true;
        if (values.includes(decisive)) return decisive;
        return values.find((value): value is DeployTime => value instanceof DeployTime) ?? !decisive;
      }
      default:
        throw new TemplateError(`${name} is not a condition function (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition)`);
    }
  }

  private pair(argument: unknown, name: string, shape: string): [unknown, unknown] {
    if (!Array.isArray(argument) || argument.length !== 2) throw new TemplateError(`${name} ${JSON.stringify(argument).slice(0, 80)}: expected ${shape}`);
    return [argument[0], argument[1]];
  }

  /** A value as text: known parts as they are, deploy-time values as marks. */
  text(value: Evaluated, what: string): string {
    if (value === NO_VALUE || value === null) return "";
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    if (value instanceof DeployTime) return mark(value.what);
    if (value instanceof Base64Of) {
      return value.text.includes(UNKNOWN_START) ? mark("Fn::Base64 of a value known only at deploy time") : Buffer.from(value.text, "utf8").toString("base64");
    }
    throw new TemplateError(`${what} is a ${Array.isArray(value) ? "list" : "map"}, not text`);
  }
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

/** Splits text on a delimiter, never inside a mark (whose text can hold the delimiter). */
function splitKeepingMarks(text: string, separator: string): string[] {
  if (separator === "") throw new TemplateError("Fn::Split's delimiter is empty");
  const pieces: string[] = [""];
  for (const segment of text.split(/(\ue000[^\ue001]*\ue001)/)) {
    if (segment.startsWith(UNKNOWN_START)) pieces[pieces.length - 1] += segment;
    else {
      const parts = segment.split(separator);
      pieces[pieces.length - 1] += parts[0];
      pieces.push(...parts.slice(1));
    }
  }
  return pieces;
}

function hasDeployTime(value: unknown): boolean {
  if (value instanceof DeployTime) return true;
  if (typeof value === "string") return value.includes(UNKNOWN_START);
  if (value instanceof Base64Of) return value.text.includes(UNKNOWN_START);
  if (Array.isArray(value)) return value.some(hasDeployTime);
  if (typeof value === "object" && value !== null) return Object.values(value).some(hasDeployTime);
  return false;
}

function describe(value: unknown): string {
  if (value instanceof DeployTime) return value.what;
  if (typeof value === "string" && value.includes(UNKNOWN_START)) return [...value.matchAll(/\ue000([^\ue001]*)\ue001/g)].map((m) => m[1]).join(", ");
  return "";
}

/** Fn::Equals compares values as CloudFormation passes them: numbers and booleans as their text. */
function scalarText(value: unknown): unknown {
  return typeof value === "number" || typeof value === "boolean" ? String(value) : value;
}
