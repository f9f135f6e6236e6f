"""FinanceIQ: `eval/mc.py` with --benchmark finance_iq preset (scored split: test).

--data_dir may be the FinanceIQ repository root or its data/ folder.

python eval/finance_iq.py --model <path-or-hub-id> --data_dir <dir> --num_fewshot 5 --output_dir <dir>
"""

if __name__ == "__main__":
    from xuanyuan.evaluation.mc_eval import main

    main(benchmark="finance_iq")
