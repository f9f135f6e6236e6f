"""CMMLU (scored split: test): `eval/mc.py` with --benchmark cmmlu preset.

python eval/cmmlu.py --model <path-or-hub-id> --data_dir <dir> --num_fewshot 5 --output_dir <dir>
"""

if __name__ == "__main__":
    from xuanyuan.evaluation.mc_eval import main

    main(benchmark="cmmlu")
