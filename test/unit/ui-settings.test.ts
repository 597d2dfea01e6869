// The extension's run settings: every restem.* config setting declared in package.json maps onto
// a restem.json field the engine accepts, presets are valid configs, and the layers apply in
// the documented order (preset < settings < chosen restem.json < problems/model picked).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_CONFIG, parseConfig } from "../../src/restem";
import { buildRunConfig, CONFIG_SETTINGS, configFileContent, configFileLayer, EXTENSION_SETTINGS, findPreset, mergeRaw, overridesFromSettings, PRESETS } from "../../src/ui/runSettings";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
  contributes: { configuration: { properties: Record<string, { default?: unknown; type?: unknown }> }; commands: { command: string }[] };
};
const properties = manifest.contributes.configuration.properties;

describe("UI run settings", () => {
  it("package.json declares exactly the config settings and the extension's own", () => {
    const declared = Object.keys(properties).sort();
    const expected = [...CONFIG_SETTINGS.map((f) => `restem.${f.key}`), ...EXTENSION_SETTINGS.map((k) => `restem.${k}`)].sort();
    assert.deepEqual(declared, expected);
    for (const field of CONFIG_SETTINGS) assert.equal(properties[`restem.${field.key}`].default, null, `${field.key} must default to null (not set)`);
  });

  it("every config setting names a field of restem.json that parseConfig accepts", () => {
    for (const field of CONFIG_SETTINGS) {
      let value: unknown = DEFAULT_CONFIG as unknown;
      for (const part of field.configPath) value = (value as Record<string, unknown>)[part];
      assert.notEqual(value, undefined, `${field.key} is not a restem.json field`);
      // The default value itself, set through the settings path, must parse.
      // A null default gets a sample value of the field's type; prompt.system also needs the chat format.
      const sample = field.key === "prompt.system" ? "You write Python." : field.key === "judge.memoryMb" ? 256 : 1;
      const companions: Record<string, unknown> = field.key === "prompt.system" ? { "prompt.format": "chat" } : {};
      const raw = overridesFromSettings((key) => (key === field.key ? (value ?? sample) : companions[key]));
      assert.doesNotThrow(() => parseConfig({ ...raw, problems: "p", model: "m" }, "settings"), field.key);
    }
  });

  it("each preset is a valid config; tiny is the smallest", () => {
    for (const preset of PRESETS) assert.doesNotThrow(() => parseConfig({ ...preset.config, problems: "p", model: "m" }, preset.id));
    const tiny = parseConfig(findPreset("tiny").config, "tiny");
    const paper = parseConfig(findPreset("paper").config, "paper");
    assert.equal(paper.sampling.samplesPerProblem, 64);
    assert.equal(paper.sampling.topK, 40);
    assert.equal(paper.sampling.temperature, 0.7);
    assert.ok(tiny.sampling.samplesPerProblem < paper.sampling.samplesPerProblem);
    assert.throws(() => findPreset("huge"), /unknown preset "huge"/);
  });

  it("layers: preset < settings < config file < the problems and model picked", () => {
    const settings = overridesFromSettings((key) => ({ "sampling.samplesPerProblem": 8, "mstep.epochs": 3, iterations: null })[key]);
    assert.deepEqual(settings, { sampling: { samplesPerProblem: 8 }, mstep: { epochs: 3 } });
    const file = { path: "/w/restem.json", raw: configFileLayer({ mstep: { epochs: 5 }, problems: "elsewhere", model: "m2" }, "/w/restem.json") };
    const config = buildRunConfig({ problems: "/w/problems", model: "/w/model", preset: findPreset("tiny"), settings, file });
    assert.equal(config.sampling.samplesPerProblem, 8); // settings over the preset's 4
    assert.equal(config.sampling.maxNewTokens, 160); // the preset's, kept by the deep merge
    assert.equal(config.mstep.epochs, 5); // the file over the settings
    assert.equal(config.problems, "/w/problems"); // the pick over the file
    assert.equal(config.iterations, 1); // a null setting does not override
  });

  it("errors name the config file and the field", () => {
    const file = { path: "/w/restem.json", raw: { sampling: { temperature: -1 } } };
    assert.throws(() => buildRunConfig({ problems: "p", model: "m", preset: findPreset("small"), settings: {}, file }), /\/w\/restem\.json: sampling\.temperature: must be a number >= 0/);
    assert.throws(() => configFileLayer([1, 2], "/w/bad.json"), /\/w\/bad\.json: the file must hold one JSON object/);
  });

  it("Save as restem.json writes paths relative to the file, and reloads to the same config", () => {
    const choices = { problems: "/w/data/problems", model: "/w/models/base", preset: findPreset("small"), settings: { seed: 7 } };
    const text = configFileContent(choices, "/w/restem.json");
    const raw = JSON.parse(text) as Record<string, unknown>;
    assert.equal(raw.problems, "data/problems");
    assert.equal(raw.model, "models/base");
    const reloaded = parseConfig(configFileLayer(raw, "/w/restem.json"), "/w/restem.json");
    const direct = buildRunConfig({ ...choices, file: null });
    assert.deepEqual(reloaded, direct);
  });

  it("mergeRaw merges objects and replaces arrays", () => {
    assert.deepEqual(mergeRaw({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } }), { a: { b: 1, c: [3] } });
  });
});
