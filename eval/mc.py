"""Multiple-choice exams (C-Eval, CMMLU, FinanceIQ, and the embedded exam in C-Eval layout).

python eval/mc.py --benchmark ceval --model outputs/tiny/sft --data_dir outputs/tiny/data/exam \
    --split val --num_fewshot 5 --output_dir outputs/tiny/eval/sft/exam [--scoring cloze] [--chat_template]

`eval/ceval.py`, `eval/cmmlu.py` and `eval/finance_iq.py` are this script with --benchmark preset.
Without --data_dir the official Hub dataset is read (needs network).
"""

if __name__ == "__main__":
    from xuanyuan.evaluation.mc_eval import main

    main()
