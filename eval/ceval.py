"""C-Eval (val is the scored split; test answers are hidden): `eval/mc.py` with --benchmark ceval preset.

python eval/ceval.py --model <path-or-hub-id> --data_dir <dir> --num_fewshot 5 --output_dir <dir>
"""

if __name__ == "__main__":
    from xuanyuan.evaluation.mc_eval import main

    main(benchmark="ceval")
