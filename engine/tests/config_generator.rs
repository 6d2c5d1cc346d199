//! Random configs from `brouter_engine::config::arbitrary`: a valid one validates and
//! compiles to exactly its networks; one with an injected catalogue mistake is rejected
//! with errors that name a key and say what would be right. Validation is pure, so a
//! rejected config never reaches `compile`, `plan` or a backend: there is no `Config` to
//! hand them.

use brouter_engine::config::arbitrary::{random_config, random_config_text, MUTATIONS};
use brouter_engine::config::from_toml;
use brouter_engine::{compile, Config};
use proptest::prelude::*;

fn check(choices: &[u32]) -> Result<(), TestCaseError> {
    let g = random_config(choices);
    let result = from_toml(&g.text, "generated.toml");
    match (g.mutation, result) {
        (None, Ok(config)) => {
            // `status` reads back the configuration `start` kept as JSON instead of
            // parsing the file again: it must be the very same configuration.
            let kept: Config = serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
            prop_assert_eq!(&kept, &config);
            let d = compile(&config);
            prop_assert_eq!(d.bridges.len(), config.networks.len());
            prop_assert_eq!(d.addresses.len(), config.networks.len());
            prop_assert_eq!(d.routes.len(), config.networks.len());
        }
        (None, Err(e)) => prop_assert!(false, "valid config rejected:\n{}\n--- config:\n{}", e, g.text),
        (Some(m), Ok(_)) => prop_assert!(false, "mutation {} accepted:\n{}", m, g.text),
        (Some(_), Err(errors)) => {
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert!(!e.key.is_empty() && !e.hint.is_empty(), "vague error: {}", e);
                prop_assert!(e.to_string().starts_with("generated.toml"), "no origin: {}", e);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_configs_validate_and_compile_or_are_rejected(choices in prop::collection::vec(any::<u32>(), 0..80)) {
        check(&choices)?;
    }
}

/// Every fixture reads back from the JSON `start` keeps for `status` as it was parsed.
#[test]
fn every_fixture_round_trips_through_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    for e in std::fs::read_dir(&root).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let config = from_toml(&text, &path.display().to_string()).unwrap();
        let kept: Config = serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(kept, config, "{}", path.display());
    }
}

/// Each mutation, on a spread of base configs, is caught — not only the ones proptest
/// happens to draw.
#[test]
fn every_catalogue_mutation_is_rejected_on_many_base_configs() {
    let n = MUTATIONS.len() as u32;
    for m in 0..n {
        for seed in 0..40u32 {
            let choices: Vec<u32> = std::iter::once(n + m)
                .chain((0..60).map(|i| seed.wrapping_mul(2_654_435_761).rotate_left(i) ^ (i * 7919)))
                .collect();
            check(&choices).unwrap_or_else(|e| panic!("mutation {} seed {seed}: {e}", MUTATIONS[m as usize]));
        }
    }
}

#[test]
fn the_text_generator_is_deterministic() {
    let choices = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
    assert_eq!(random_config_text(&choices), random_config_text(&choices));
}
