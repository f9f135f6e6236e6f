"""Instruction and preference data from a user's own documents, tables and knowledge graphs.

- `generators`: a local Hugging Face causal LM or an OpenAI-compatible endpoint behind one interface.
- `runner`: resumable, chunked steps and the funnel of kept / dropped items; `prompts`: the zh/en templates.
- `knowledge` (documents, tables, knowledge-graph triples as text items), `filters` and `self_qa`: Self-QA.
- `evol`: Evol-Instruct; `ensemble`: several generators' answers filtered by the reward model and merged.
- `candidates` and `labelling`: sampled responses on labelling sheets, and filled sheets back as preferences.

Why not distilabel (tried: distilabel 1.5.3 with transformers 5.23 and TRL 1.16, December 2026). It installs
and its `Pipeline` runs, but its `TransformersLLM` hands the prompts to a `text-generation` pipeline without
a batch size, so a local model answers one prompt at a time (the KV-cached, left-padded batching this project
needs on CPU is not there); it pads with EOS and applies its own `repetition_penalty=1.1` unless told
otherwise; and a step that raises is logged as a warning, its batch is passed on empty and `Pipeline.run`
returns normally (exit status 0): items are lost without an error, which this project's rules forbid. What the
synthesis steps need on top (rule filters with reasons written aside, the project's MinHash dedup, the reward-model
filter, labelling sheets) would all be custom steps anyway; so the steps here are plain functions over a
small resumable runner, and generation reuses the project's batched `complete_chats` and the `openai` client.
"""
