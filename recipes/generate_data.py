"""Generate the embedded default data set (synthetic finance world, corpus, SFT, preference, RL, exam).

    python recipes/generate_data.py --config recipes/tiny/embedded_data.yaml [--output_dir DIR] [--seed N]

Values in the YAML file replace the `EmbeddedDataConfig` defaults; command-line flags override both.
"""

import time


def main(args: list[str] | None = None) -> dict:
    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data

    (config,) = parse_recipe_args([EmbeddedDataConfig], argv=args)
    start = time.perf_counter()
    manifest = generate_embedded_data(config)
    print(f"wrote {len(manifest['files'])} files to {config.output_dir} in {time.perf_counter() - start:.1f}s")
    print(", ".join(f"{key}={value}" for key, value in manifest["counts"].items()))
    return manifest


if __name__ == "__main__":
    main()
