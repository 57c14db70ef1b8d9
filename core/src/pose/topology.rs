// SPDX-License-Identifier: MPL-2.0
//! Keypoint names and the links between them, in trt_pose's `human_pose.json` format.

use std::path::Path;

use serde::Deserialize;

/// A skeleton: keypoint names plus 0-based `(source, destination)` links.
///
/// For trt_pose models link `k` reads its PAF from channels `2k` (y) and `2k+1` (x).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub name: String,
    pub keypoints: Vec<String>,
    pub links: Vec<(usize, usize)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("topology {path}: cannot read file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("topology {path}: invalid JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("topology {path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("unknown built-in topology '{0}' (known: human_pose, coco17, boxes)")]
    UnknownBuiltin(String),
}

#[derive(Deserialize)]
struct TopologyFile {
    #[serde(default)]
    name: Option<String>,
    keypoints: Vec<String>,
    skeleton: Vec<Vec<i64>>,
}

const COCO17_KEYPOINTS: [&str; 17] = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
];

/// trt_pose's `tasks/human_pose/human_pose.json` skeleton, 1-based as in the file.
const HUMAN_POSE_SKELETON: [[usize; 2]; 21] = [
    [16, 14],
    [14, 12],
    [17, 15],
    [15, 13],
    [12, 13],
    [6, 8],
    [7, 9],
    [8, 10],
    [9, 11],
    [2, 3],
    [1, 2],
    [1, 3],
    [2, 4],
    [3, 5],
    [4, 6],
    [5, 7],
    [18, 1],
    [18, 6],
    [18, 7],
    [18, 12],
    [18, 13],
];

/// The 18 drawing edges of the TF MoveNet tutorial, 0-based.
const COCO17_EDGES: [(usize, usize); 18] = [
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (0, 5),
    (0, 6),
    (5, 7),
    (7, 9),
    (6, 8),
    (8, 10),
    (5, 6),
    (5, 11),
    (6, 12),
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
];

impl Topology {
    /// trt_pose's 18-keypoint human pose (COCO-17 plus neck) with its 21 links.
    pub fn human_pose() -> Self {
        let mut keypoints: Vec<String> = COCO17_KEYPOINTS.iter().map(|s| s.to_string()).collect();
        keypoints.push("neck".into());
        Topology {
            name: "human_pose".into(),
            keypoints,
            links: HUMAN_POSE_SKELETON
                .iter()
                .map(|[a, b]| (a - 1, b - 1))
                .collect(),
        }
    }

    /// COCO-17 keypoints as output by MoveNet and PoseNet, with 18 drawing edges.
    pub fn coco17() -> Self {
        Topology {
            name: "coco17".into(),
            keypoints: COCO17_KEYPOINTS.iter().map(|s| s.to_string()).collect(),
            links: COCO17_EDGES.to_vec(),
        }
    }

    /// No keypoints: the people of a detector, boxes and scores only.
    pub fn boxes() -> Self {
        Topology {
            name: "boxes".into(),
            keypoints: Vec::new(),
            links: Vec::new(),
        }
    }

    pub fn builtin(name: &str) -> Result<Self, TopologyError> {
        match name {
            "boxes" => Ok(Self::boxes()),
            "human_pose" | "trt_pose" => Ok(Self::human_pose()),
            "coco17" | "coco" => Ok(Self::coco17()),
            other => Err(TopologyError::UnknownBuiltin(other.to_string())),
        }
    }

    pub fn num_parts(&self) -> usize {
        self.keypoints.len()
    }

    pub fn num_links(&self) -> usize {
        self.links.len()
    }

    /// Loads a `human_pose.json`-style file (`keypoints` names, `skeleton` of 1-based pairs).
    pub fn from_file(path: &Path) -> Result<Self, TopologyError> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(TopologyError::Invalid {
                path: shown,
                problem: "is a directory, not a JSON file".into(),
            });
        }
        let bytes = std::fs::read(path).map_err(|source| TopologyError::Io {
            path: shown.clone(),
            source,
        })?;
        let default_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "topology".into());
        Self::from_json_bytes(&bytes, &shown, &default_name)
    }

    /// Parses topology JSON; `origin` names the source in error messages.
    pub fn from_json_bytes(
        bytes: &[u8],
        origin: &str,
        default_name: &str,
    ) -> Result<Self, TopologyError> {
        let file: TopologyFile =
            serde_json::from_slice(bytes).map_err(|source| TopologyError::Json {
                path: origin.to_string(),
                source,
            })?;
        let invalid = |problem: String| TopologyError::Invalid {
            path: origin.to_string(),
            problem,
        };
        if file.keypoints.is_empty() {
            return Err(invalid("'keypoints' is empty".into()));
        }
        if file.skeleton.is_empty() {
            return Err(invalid("'skeleton' is empty".into()));
        }
        for (i, name) in file.keypoints.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(invalid(format!("keypoint {i} has an empty name")));
            }
            if let Some(j) = file.keypoints[..i].iter().position(|n| n == name) {
                return Err(invalid(format!(
                    "duplicate keypoint name '{name}' (entries {j} and {i})"
                )));
            }
        }
        let n = file.keypoints.len() as i64;
        let mut links = Vec::with_capacity(file.skeleton.len());
        for (k, pair) in file.skeleton.iter().enumerate() {
            let [a, b] = pair.as_slice() else {
                return Err(invalid(format!(
                    "skeleton entry {k} has {} values, expected a pair [a, b]",
                    pair.len()
                )));
            };
            for v in [a, b] {
                if *v < 1 || *v > n {
                    return Err(invalid(format!(
                        "skeleton entry {k} [{a}, {b}]: index {v} is out of range 1..={n} (indices are 1-based)"
                    )));
                }
            }
            if a == b {
                return Err(invalid(format!(
                    "skeleton entry {k} links keypoint {a} to itself"
                )));
            }
            links.push(((*a - 1) as usize, (*b - 1) as usize));
        }
        Ok(Topology {
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            keypoints: file.keypoints,
            links,
        })
    }

    /// Serializes to the `human_pose.json` format (1-based skeleton).
    pub fn to_json(&self) -> String {
        let skeleton: Vec<[usize; 2]> = self.links.iter().map(|&(a, b)| [a + 1, b + 1]).collect();
        serde_json::json!({
            "name": self.name,
            "keypoints": self.keypoints,
            "skeleton": skeleton,
        })
        .to_string()
    }

    /// trt_pose's topology rows `(paf_y_channel, paf_x_channel, source, destination)`.
    pub fn trt_pose_rows(&self) -> Vec<[usize; 4]> {
        self.links
            .iter()
            .enumerate()
            .map(|(k, &(a, b))| [2 * k, 2 * k + 1, a, b])
            .collect()
    }

    pub fn keypoint_index(&self, name: &str) -> Option<usize> {
        self.keypoints.iter().position(|k| k == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_have_expected_shape() {
        let hp = Topology::human_pose();
        assert_eq!(hp.num_parts(), 18);
        assert_eq!(hp.num_links(), 21);
        assert_eq!(hp.links[0], (15, 13));
        assert_eq!(hp.trt_pose_rows()[20], [40, 41, 17, 12]);
        let coco = Topology::coco17();
        assert_eq!(coco.num_parts(), 17);
        assert_eq!(coco.num_links(), 18);
        assert_eq!(coco.keypoint_index("right_ankle"), Some(16));
    }

    #[test]
    fn json_round_trip() {
        let hp = Topology::human_pose();
        let back = Topology::from_json_bytes(hp.to_json().as_bytes(), "mem", "x").unwrap();
        assert_eq!(back, hp);
    }

    #[test]
    fn rejects_malformed_files_with_named_problem() {
        let cases: [(&str, &str); 6] = [
            ("{", "invalid JSON"),
            (
                r#"{"keypoints": [], "skeleton": [[1,2]]}"#,
                "'keypoints' is empty",
            ),
            (
                r#"{"keypoints": ["a","b"], "skeleton": []}"#,
                "'skeleton' is empty",
            ),
            (
                r#"{"keypoints": ["a","b"], "skeleton": [[1,3]]}"#,
                "out of range",
            ),
            (
                r#"{"keypoints": ["a","a"], "skeleton": [[1,2]]}"#,
                "duplicate keypoint name 'a'",
            ),
            (
                r#"{"keypoints": ["a","b"], "skeleton": [[1,2,3]]}"#,
                "expected a pair",
            ),
        ];
        for (json, needle) in cases {
            let err = Topology::from_json_bytes(json.as_bytes(), "my.json", "x")
                .unwrap_err()
                .to_string();
            assert!(err.contains("my.json"), "{err}");
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
    }

    #[test]
    fn file_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = Topology::from_file(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let missing = dir.path().join("nope.json");
        let err = Topology::from_file(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.json") && err.contains("cannot read"),
            "{err}"
        );
        let good = dir.path().join("hand.json");
        std::fs::write(
            &good,
            r#"{"keypoints": ["a","b","c"], "skeleton": [[1,2],[2,3]]}"#,
        )
        .unwrap();
        let t = Topology::from_file(&good).unwrap();
        assert_eq!(t.name, "hand");
        assert_eq!(t.links, vec![(0, 1), (1, 2)]);
    }
}
