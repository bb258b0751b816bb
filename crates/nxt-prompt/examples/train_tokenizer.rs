//! Trains the small byte-level BPE tokenizer that ships in `fixtures/prompt/tokenizer.json`
//! for tests of token budgets (no tokenizer of a real model could be obtained offline).
//!
//! ```text
//! cargo run -p nxt-prompt --example train_tokenizer -- OUT.json [VOCAB] [FILE ...]
//! ```
//!
//! The corpus is every string of every JSON line of the `.jsonl` files (task texts,
//! programs, tests) and the whole text of any other file. By default: MBPP and HumanEval
//! from `/work/shared/data` and the repository's Python fixtures. The vocabulary size
//! defaults to 4,096. Training is deterministic: the same corpus gives the same file.

use std::path::{Path, PathBuf};

use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, Tokenizer,
    TokenizerBuilder,
};

fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            python_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: train_tokenizer OUT.json [VOCAB] [FILE ...]")?;
    let vocab: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(4096);
    let mut files: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if files.is_empty() {
        files.push("/work/shared/data/mbpp.jsonl".into());
        files.push("/work/shared/data/HumanEval.jsonl".into());
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        python_files(&fixtures, &mut files);
    }

    let mut corpus = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        if file.extension().is_some_and(|e| e == "jsonl") {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                strings(&serde_json::from_str(line)?, &mut corpus);
            }
        } else {
            corpus.push(text);
        }
    }
    eprintln!("{} texts from {} files", corpus.len(), files.len());

    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab)
        .min_frequency(2)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = TokenizerBuilder::<
        BPE,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >::new()
    .with_model(BPE::default())
    .with_pre_tokenizer(Some(ByteLevel::new(false, true, true).into()))
    .with_post_processor(Some(ByteLevel::new(false, true, true).into()))
    .with_decoder(Some(ByteLevel::new(false, true, true).into()))
    .build()?;
    tokenizer.train(&mut trainer, corpus.iter())?;
    let tokenizer: Tokenizer = tokenizer.into();
    tokenizer.save(&out, false)?;
    eprintln!(
        "wrote {out}: vocabulary of {}",
        tokenizer.get_vocab_size(true)
    );
    Ok(())
}
