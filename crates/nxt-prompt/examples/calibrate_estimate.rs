//! Compares the token estimate with a tokenizer on real prompts: MBPP tasks (their
//! reference programs, traced on their first test), 0- and 3-shot, with traces.
//!
//! ```text
//! cargo run -p nxt-prompt --example calibrate_estimate -- [MBPP.jsonl] [TOKENIZER.json] [N]
//! ```
//!
//! By default: `/work/shared/data/mbpp.jsonl`, the shipped `fixtures/prompt/tokenizer.json`,
//! and the first 100 tasks of the test split (11–110). Prints the ratio estimate /
//! tokenizer: mean, smallest, largest, and how many prompts the estimate counts low.

use std::path::PathBuf;

use nxt_prompt::{PromptBuilder, TokenCounter, estimate_tokens};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/work/shared/data/mbpp.jsonl".into()),
    );
    let tokenizer = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/prompt/tokenizer.json")
    });
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);

    let tasks: Vec<_> = nxt_data::import::mbpp(&data)?
        .into_iter()
        .filter(|t| {
            let id: u32 = t.task_id.trim_start_matches("mbpp/").parse().unwrap_or(0);
            (11..=510).contains(&id)
        })
        .take(n)
        .collect();
    let counter = TokenCounter::from_file(&tokenizer)?;
    let tracer = nxt_trace::CPythonTracerBuilder::new().workers(2).build()?;
    let verifier = nxt_verify::PythonVerifierBuilder::new()
        .workers(2)
        .build()?;

    for shots in [0, 3] {
        let prompter = PromptBuilder::new().shots(shots).build()?;
        let mut ratios = Vec::new();
        for prompt in prompter.prompt_all(&tasks, &tracer, &verifier) {
            let Ok(prompt) = prompt else { continue };
            let text = prompt.text().expect("text prompts");
            ratios.push(estimate_tokens(text) as f64 / counter.count(text) as f64);
        }
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(0.0, f64::max);
        let low = ratios.iter().filter(|&&r| r < 1.0).count();
        println!(
            "{shots}-shot, {} prompts: estimate / tokenizer mean {mean:.3}, min {min:.3}, max {max:.3}; {low} counted low",
            ratios.len()
        );
    }
    Ok(())
}
