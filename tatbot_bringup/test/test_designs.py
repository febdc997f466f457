"""Designs a user brings (SVG, upstream strokebatch) as stroke pairs (pure, no ROS); their scoring
is in tatbot_vla_policy's test_scoring."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from tatbot_bringup.designs import DesignError, load_design, load_svg_design, svg_polylines
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config
from tatbot_bringup.strokes import StrokeSpace, plan_joint_path, stroke_space_for

SPACE = StrokeSpace(centers={"left": (0.2, 0.08), "right": (0.2, -0.08)}, surface_z=0.1)
SAMPLE = Path(__file__).resolve().parents[1] / "designs" / "sample.svg"

# a 10 x 10 design: an L-shaped path inside a translated group, a circle, and a dot
KNOWN = """<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="10mm" viewBox="0 0 10 10">
  <g transform="translate(2,0)"><path d="M 0 0 L 8 0 L 8 4"/></g>
  <circle cx="3" cy="7" r="3"/>
  <path d="M 0.5 9.5 L 0.51 9.5"/>
</svg>"""


def _write(tmp_path, text, name="known.svg"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_svg_polylines_apply_transforms_and_sample_curves(tmp_path):
    lines = svg_polylines(_write(tmp_path, KNOWN))
    assert len(lines) == 3
    px = 96 / 25.4  # svgelements works in CSS pixels: 10 mm wide = 37.8 px
    np.testing.assert_allclose(lines[0], np.array([[2, 0], [10, 0], [10, 4]]) * px, rtol=1e-5)
    centre, radius = np.array([3, 7]) * px, 3 * px
    np.testing.assert_allclose(np.linalg.norm(lines[1] - centre, axis=1), radius, rtol=1e-3)
    np.testing.assert_allclose(lines[1][0], lines[1][-1], atol=1e-6)  # closed
    assert len(lines[1]) > 40


def test_svg_design_is_scaled_flipped_and_placed_in_each_region(tmp_path):
    design = load_svg_design(_write(tmp_path, KNOWN), SPACE, size=0.05)
    assert design.name == "known" and design.dropped == 1  # the 0.01-unit dot is not a stroke
    assert len(design.pairs) == 2
    scale = 0.05 / 10  # m per unit: the design is 10 units on its larger side (x 0..10, y 0..10)

    def world(arm, x, y):  # SVG (x, y down) -> world: centred on the region, y flipped
        cx, cy = SPACE.centers[arm]
        return np.array([cx + (x - 5) * scale, cy - (y - 5) * scale, SPACE.surface_z])

    for arm in ("left", "right"):
        stroke = getattr(design.pairs[0], arm)
        np.testing.assert_allclose(stroke.drawn[0], world(arm, 2, 0), atol=1e-9)
        np.testing.assert_allclose(stroke.drawn[-1], world(arm, 10, 4), atol=1e-9)
        corner = world(arm, 10, 0)
        assert np.linalg.norm(stroke.drawn - corner, axis=1).min() <= 0.5 * SPACE.step + 1e-9  # not cut
        assert stroke.length == pytest.approx(12 * scale, rel=1e-6)
        np.testing.assert_allclose(stroke.path[0], stroke.drawn[0] + [0, 0, SPACE.hover])
        steps = np.linalg.norm(np.diff(stroke.drawn, axis=0), axis=1)
        assert steps.max() <= SPACE.step * 1.001  # drawn at the stencil's speed
        assert stroke.family == "known" and design.pairs[0].task == "left: known, right: known"
        assert stroke.families()["shape"] == "known"


def test_the_sample_design_fits_the_robot_and_its_strokes_are_reachable():
    config = load_robot_config()
    kin = RobotKinematics.from_config(config)
    space = stroke_space_for(config, kin)
    design = load_design(SAMPLE, space, kin)
    assert design.name == "sample" and len(design.pairs) == 5 and design.dropped == 0
    for pair in design.pairs:
        for arm in ("left", "right"):
            stroke = getattr(pair, arm)
            assert np.all(np.abs(stroke.drawn[:, :2] - space.centers[arm]) <= space.extent + 1e-9)
            assert 0.01 <= stroke.length <= 0.10  # within the lengths the demo trains on
        path = plan_joint_path(pair, kin, config.pose("ready"))
        np.testing.assert_allclose(kin.needle_tips(path)[: len(pair.left.path), 0], pair.left.path, atol=1e-4)


def test_strokebatch_design_lays_the_upstream_tips_on_the_surface(tmp_path):
    config = load_robot_config()
    kin = RobotKinematics.from_config(config)
    space = stroke_space_for(config, kin)
    # an upstream-style stroke: a 3 cm line per arm, 2 mm above our surface, 12 poses, 3 depth offsets
    line = np.linspace(0.0, 0.03, 12)[:, None] * np.array([1.0, 0.0, 0.0])
    joints = []
    q = config.pose("ready")
    for p in line:
        for arm, (cx, cy) in space.centers.items():
            q = kin.ik_needle_tip(arm, np.array([cx, cy, space.surface_z + 0.002]) + p, q)
        joints.append(q)
    joints = np.repeat(np.array(joints)[None, :, None, :], 3, axis=2)
    save_file({"joints": joints.astype(np.float32)}, str(tmp_path / "strokebatch.safetensors"))
    (tmp_path / "strokes.yaml").write_text(yaml.safe_dump({"strokes": [[{"description": "l"}, {"description": "r"}]]}))
    design = load_design(tmp_path, space, kin)
    assert len(design.pairs) == 1
    left = design.pairs[0].left
    assert left.family == "strokebatch" and left.description == "l"
    np.testing.assert_allclose(left.drawn[:, 2], space.surface_z)
    cx, cy = space.centers["left"]
    np.testing.assert_allclose(left.drawn[0, :2], [cx + 0.03 / 11, cy], atol=1e-4)  # poses 1..10: the drawn part
    assert left.length == pytest.approx(0.03 * 9 / 11, abs=1e-4)


@pytest.mark.parametrize(
    "text,match",
    [
        ("<svg xmlns='http://www.w3.org/2000/svg'><text>hi</text></svg>", "no path or shape to draw"),
        ("<svg xmlns='http://www.w3.org/2000/svg'><path d='M 1 1 L 2 2", "not a valid SVG file"),
        ("<svg xmlns='http://www.w3.org/2000/svg'><path d='M 1 1 L 1 1 L 1 1'/></svg>", "no path or shape"),
    ],
)
def test_bad_svg_files_are_named(tmp_path, text, match):
    with pytest.raises(DesignError, match=match):
        load_svg_design(_write(tmp_path, text), SPACE)


def test_bad_design_sources_are_named(tmp_path):
    with pytest.raises(DesignError, match="not found"):
        load_svg_design(tmp_path / "absent.svg", SPACE)
    with pytest.raises(DesignError, match=r"an \.svg file or a strokebatch directory"):
        load_design(_write(tmp_path, "x", "design.png"), SPACE, None)
    with pytest.raises(DesignError, match="size must be > 0"):
        load_svg_design(_write(tmp_path, KNOWN), SPACE, size=0.0)
