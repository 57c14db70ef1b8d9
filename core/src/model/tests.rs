// SPDX-License-Identifier: MPL-2.0
//! The registry is the only list of families: each claims its own example model and no other
//! family does, and a family registered elsewhere is found without touching this module.

use super::family::float_spec;
use super::*;
use crate::pose::BBox;
use crate::tensor::Normalize;

fn outputs_for(specs: &[TensorSpec], fill: f32) -> Vec<OutputBuffer> {
    specs
        .iter()
        .map(|s| {
            let shape: Vec<usize> = s.shape.iter().map(|&d| d.max(1) as usize).collect();
            OutputBuffer {
                data: vec![fill; shape.iter().product()],
                shape,
            }
        })
        .collect()
}

#[test]
fn family_names_are_unique() {
    for (i, a) in REGISTRY.iter().enumerate() {
        for b in &REGISTRY[i + 1..] {
            assert_ne!(a.name(), b.name());
        }
    }
}

#[test]
fn every_family_claims_its_example_and_no_other_does() {
    for &family in REGISTRY {
        let (input, outputs) = family.example();
        for &other in REGISTRY {
            let claim = other.recognise(&input, &outputs);
            assert_eq!(
                claim.is_some(),
                other.name() == family.name(),
                "{} on the example of {}",
                other.name(),
                family.name()
            );
        }
        let plan = ModelPlan::new(
            std::slice::from_ref(&input),
            &outputs,
            FamilyRequest::Auto,
            None,
        )
        .unwrap();
        assert_eq!(plan.family, Family::new(family));
        if let Some(request) = family.request() {
            let forced = ModelPlan::new(&[input], &outputs, request, None).unwrap();
            assert_eq!(forced, plan);
        }
    }
}

#[test]
fn every_family_plans_and_decodes_its_example() {
    for &family in REGISTRY {
        let (input, outputs) = family.example();
        let plan = ModelPlan::new(&[input], &outputs, FamilyRequest::Auto, None).unwrap();
        for (role, index) in &plan.outputs.roles {
            assert!(*index < outputs.len(), "{}: {role}", family.name());
        }
        let (w, h) = plan.input_size_for(640, 480, 256);
        let mut decoder = PoseDecoder::new(plan, DecodeSettings::default()).unwrap();
        let mut people = Vec::new();
        decoder
            .decode(&outputs_for(&outputs, 0.0), w, h, &mut people)
            .unwrap_or_else(|e| panic!("{}: {e}", family.name()));
    }
}

#[test]
fn another_family_is_refused_with_what_each_family_expects() {
    let (input, _) = trt_pose::TrtPose.example();
    let outputs = [float_spec("scores", &[1, 7])];
    let err = ModelPlan::new(&[input], &outputs, FamilyRequest::Auto, None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot tell the model family"), "{err}");
    for family in REGISTRY {
        assert!(err.contains(family.signature()), "{err}");
    }
}

#[test]
fn a_request_for_another_family_names_the_one_recognised() {
    let (input, outputs) = movenet::MULTIPOSE.example();
    let err = ModelPlan::new(&[input], &outputs, FamilyRequest::TrtPose, None).unwrap_err();
    assert!(matches!(err, ModelError::FamilyMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("model-family is TrtPose but the model's outputs ('output_0'"),
        "{err}"
    );
    assert!(err.to_string().ends_with("look like movenet (multipose)"));
}

#[test]
fn topology_mismatches_say_what_the_family_needs() {
    let (input, outputs) = trt_pose::TrtPose.example();
    let coco = Some(Topology::coco17());
    let err = ModelPlan::new(&[input], &outputs, FamilyRequest::Auto, coco.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("topology 'coco17' has 17 keypoints and 18 links, so it needs 17 cmap"),
        "{err}"
    );
    let (input, outputs) = movenet::SINGLEPOSE.example();
    let human = Some(Topology::human_pose());
    let err = ModelPlan::new(&[input], &outputs, FamilyRequest::Auto, human)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "topology 'human_pose' has 18 keypoints; MoveNet outputs 17 (COCO order)"
    );
}

/// A person detector known only to these tests: `[1, N, 5]` rows of a normalized box and a
/// score, no keypoints.
struct Boxes;

#[derive(Debug)]
struct BoxesDecoder {
    output: usize,
    min_score: f32,
}

impl PoseFamily for Boxes {
    fn name(&self) -> &'static str {
        "boxes"
    }
    fn signature(&self) -> &'static str {
        "boxes ([1, N, 5])"
    }
    fn request(&self) -> Option<FamilyRequest> {
        None
    }
    fn recognise(&self, _input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence> {
        let [o] = outputs else { return None };
        (o.shape.len() == 3 && o.shape[2] == 5).then_some(Confidence::Strong)
    }
    fn example(&self) -> (TensorSpec, Vec<TensorSpec>) {
        (
            float_spec("images", &[1, 3, 320, 320]),
            vec![float_spec("boxes", &[1, 100, 5])],
        )
    }
    fn default_topology(&self) -> Topology {
        Topology::coco17()
    }
    fn default_person_threshold(&self) -> f32 {
        0.5
    }
    fn plan(
        &self,
        input: &ImageInput,
        _outputs: &[TensorSpec],
        _topology: &Topology,
    ) -> Result<FamilyPlan, ModelError> {
        let outputs = OutputPlan::new(&[("boxes", 0)], None);
        let unit = Normalize {
            scale: [1.0 / 255.0; 3],
            offset: [0.0; 3],
        };
        Ok(FamilyPlan::for_image(
            input,
            unit,
            ResizeMode::Letterbox,
            outputs,
        ))
    }
    fn decoder(
        &self,
        outputs: &OutputPlan,
        _topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError> {
        Ok(Box::new(BoxesDecoder {
            output: outputs.index("boxes")?,
            min_score: settings.person_threshold(self),
        }))
    }
}

impl FamilyDecoder for BoxesDecoder {
    fn decode(
        &mut self,
        outputs: ImageOutputs<'_>,
        _input_w: u32,
        _input_h: u32,
        people: &mut Vec<Person>,
    ) -> Result<(), DecodeError> {
        people.clear();
        for r in outputs.get(self.output)?.0.chunks_exact(5) {
            if r[4] >= self.min_score {
                people.push(Person {
                    bbox: BBox {
                        x0: r[0],
                        y0: r[1],
                        x1: r[2],
                        y1: r[3],
                    },
                    score: r[4],
                    ..Default::default()
                });
            }
        }
        Ok(())
    }
}

#[test]
fn a_family_in_a_local_registry_is_detected_and_decoded() {
    let (input, outputs) = Boxes.example();
    let err = ModelPlan::new(
        std::slice::from_ref(&input),
        &outputs,
        FamilyRequest::Auto,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::UnknownFamily { .. }), "{err:?}");

    let families: Vec<&'static dyn PoseFamily> =
        REGISTRY.iter().copied().chain([&Boxes as _]).collect();
    let plan =
        ModelPlan::with_families(&families, &[input], &outputs, FamilyRequest::Auto, None).unwrap();
    assert_eq!(plan.family.name(), "boxes");
    assert_eq!(plan.fixed_size, Some((320, 320)));
    let mut rows = outputs_for(&outputs, 0.0);
    rows[0].data[5..10].copy_from_slice(&[0.1, 0.2, 0.3, 0.4, 0.4]);
    rows[0].data[10..15].copy_from_slice(&[0.5, 0.5, 0.9, 0.9, 0.8]);
    let mut decoder = PoseDecoder::new(plan, DecodeSettings::default()).unwrap();
    let mut people = Vec::new();
    decoder.decode(&rows, 320, 320, &mut people).unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].score, 0.8);
    assert_eq!(people[0].bbox.x1, 0.9);
}

/// Claims any model with one output, weakly.
struct AnyOneOutput;

impl PoseFamily for AnyOneOutput {
    fn name(&self) -> &'static str {
        "any"
    }
    fn signature(&self) -> &'static str {
        "anything with one output"
    }
    fn request(&self) -> Option<FamilyRequest> {
        None
    }
    fn recognise(&self, _input: &TensorSpec, outputs: &[TensorSpec]) -> Option<Confidence> {
        (outputs.len() == 1).then_some(Confidence::Weak)
    }
    fn example(&self) -> (TensorSpec, Vec<TensorSpec>) {
        Boxes.example()
    }
    fn default_topology(&self) -> Topology {
        Boxes.default_topology()
    }
    fn default_person_threshold(&self) -> f32 {
        0.0
    }
    fn plan(
        &self,
        input: &ImageInput,
        outputs: &[TensorSpec],
        topology: &Topology,
    ) -> Result<FamilyPlan, ModelError> {
        Boxes.plan(input, outputs, topology)
    }
    fn decoder(
        &self,
        outputs: &OutputPlan,
        topology: &Topology,
        settings: &DecodeSettings,
    ) -> Result<Box<dyn FamilyDecoder>, ModelError> {
        Boxes.decoder(outputs, topology, settings)
    }
}

#[test]
fn a_strong_claim_beats_a_weak_one_registered_first() {
    let families: [&'static dyn PoseFamily; 3] = [&AnyOneOutput, &movenet::MULTIPOSE, &Boxes];
    let plan_of = |(input, outputs): (TensorSpec, Vec<TensorSpec>), request| {
        ModelPlan::with_families(&families, &[input], &outputs, request, None)
    };
    let auto = FamilyRequest::Auto;
    let movenet = plan_of(movenet::MULTIPOSE.example(), auto).unwrap();
    assert_eq!(movenet.family.name(), "movenet (multipose)");
    let forced = plan_of(movenet::MULTIPOSE.example(), FamilyRequest::MoveNet).unwrap();
    assert_eq!(forced.family.name(), "movenet (multipose)");
    let one = (
        float_spec("in", &[1, 3, 8, 8]),
        vec![float_spec("o", &[1, 2])],
    );
    assert_eq!(plan_of(one, auto).unwrap().family.name(), "any");
}
