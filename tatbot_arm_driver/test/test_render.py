"""Pure tests of the simulated-camera renderer (no ROS): geometry against FK, ink, motion."""

from __future__ import annotations

import numpy as np
import pytest

from tatbot_arm_driver.core.render import D405_DEPTH_RANGE, CameraView, Palette, RenderError, SurfaceCanvas
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import DEFAULT_CONFIG, load_robot_config


@pytest.fixture(scope="module")
def config():
    return load_robot_config(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def kin(config):
    return RobotKinematics.from_config(config)


def arm_state(kin, config, q):
    T = kin.forward(q)
    idx = [kin.index(f"{a.name}/tattoo_needle") for a in config.arms]
    return T[idx, :3, 3], T[idx, :3, 2]


def view_for(kin, config, camera: str) -> CameraView:
    cam = config.camera(camera)
    return CameraView(kin.camera_matrix(camera), cam.width, cam.height)


def expected_pixel(kin, q, camera: str, point) -> np.ndarray:
    """Independent pinhole projection of a world point."""
    T = kin.camera_pose(q, camera)
    p_cam = T[:3, :3].T @ (np.asarray(point) - T[:3, 3])
    assert p_cam[2] > 0
    uvw = kin.camera_matrix(camera) @ p_cam
    return uvw[:2] / uvw[2]


def colour_mask(image: np.ndarray, colour, tolerance: int = 40) -> np.ndarray:
    return np.abs(image.astype(int) - np.array(colour)).sum(axis=-1) < tolerance


def centroid(mask: np.ndarray) -> np.ndarray:
    v, u = np.nonzero(mask)
    assert u.size > 0, "colour not found in the image"
    return np.array([u.mean(), v.mean()])


@pytest.mark.parametrize("camera", ["realsense1", "realsense2"])
def test_stencil_point_projects_where_fk_says(config, kin, camera):
    q = config.pose("ready")
    arm = config.camera(camera).arm
    arm_index = [a.name for a in config.arms].index(arm)
    tips, axes = arm_state(kin, config, q)
    # a stencil dot 3 cm in front of this arm's tip shadow, away from the tip markers
    dot = np.array([tips[arm_index, 0] + 0.03, tips[arm_index, 1], config.work_surface.z])
    canvas = SurfaceCanvas(config.work_surface, len(config.arms), stencil_width=0.004)
    paths = [np.zeros((0, 3))] * len(config.arms)
    paths[arm_index] = dot[None]
    canvas.set_stencil(paths)
    image = view_for(kin, config, camera).render(canvas, kin.camera_pose(q, camera), tips, axes)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    found = centroid(colour_mask(image, canvas.palette.stencil[arm_index]))
    np.testing.assert_allclose(found, expected_pixel(kin, q, camera, dot), atol=1.0)


def test_needle_tips_are_drawn_at_their_projection(config, kin):
    q = config.pose("ready")
    tips, axes = arm_state(kin, config, q)
    canvas = SurfaceCanvas(config.work_surface, len(config.arms))
    palette = canvas.palette
    image = view_for(kin, config, "realsense1").render(canvas, kin.camera_pose(q, "realsense1"), tips, axes)
    for arm in range(len(config.arms)):
        u, v = np.round(expected_pixel(kin, q, "realsense1", tips[arm])).astype(int)
        assert 0 <= u < 640 and 0 <= v < 480
        assert colour_mask(image[v - 1 : v + 2, u - 1 : u + 2], palette.needle[arm]).all()
        # the shadow lies straight under the tip (tips at ready hover above the surface)
        shadow = np.array([*tips[arm, :2], config.work_surface.z])
        su, sv = np.round(expected_pixel(kin, q, "realsense1", shadow)).astype(int)
        assert colour_mask(image[sv : sv + 1, su : su + 1], palette.shadow).all()


def test_ink_appears_only_where_the_tip_touched(config, kin):
    z = config.work_surface.z
    canvas = SurfaceCanvas(config.work_surface, 2, ink_width=0.001, contact_distance=0.0015)
    still = np.array([0.15, -0.08, z + 0.05])  # the other arm hovers all along
    hover = [np.array([0.10 + 0.002 * k, 0.05, z + 0.01]) for k in range(10)]
    touch = [np.array([0.12 + 0.002 * k, 0.08, z + 0.001]) for k in range(21)]  # 4 cm line, 1 mm up
    lifted = [np.array([0.16 + 0.002 * k, 0.08, z + 0.003]) for k in range(10)]
    inked = [canvas.update_tips(np.stack([p, still])) for p in hover + touch + lifted]
    assert inked == [False] * 10 + [True] * 21 + [False] * 10

    def inked_at(p) -> bool:
        u, v = np.round(canvas.to_pixels(p)).astype(int)
        return bool(canvas.ink[v, u])

    assert all(inked_at(p) for p in touch)
    assert all(inked_at((touch[k] + touch[k + 1]) / 2) for k in range(20))  # continuous line
    assert not any(inked_at(p) for p in hover + lifted[1:] + [still])
    area = np.count_nonzero(canvas.ink) * canvas.resolution**2
    assert 0.04 * 0.001 * 0.8 < area < 0.042 * 0.0012 * 1.5  # ~ 4 cm x 1 mm
    assert np.array_equal(canvas.texture[canvas.ink > 0][0], canvas.palette.ink)

    canvas.set_stencil([np.zeros((0, 3)), np.zeros((0, 3))])
    assert not canvas.ink.any()


def test_ink_is_visible_in_the_camera_where_the_needle_drew(config, kin):
    q = config.pose("ready")
    tip = kin.needle_tip(q, "left")
    canvas = SurfaceCanvas(config.work_surface, 2)
    start = np.array([tip[0], tip[1], config.work_surface.z])
    stroke = [start - np.array([0.0, 0.001 * k, 0.0]) for k in range(25)]  # 2.4 cm towards the centre
    qk = q
    for point in stroke:
        qk = kin.ik_needle_tip("left", point, qk)
        canvas.update_tips(kin.needle_tips(qk))
    tips, axes = arm_state(kin, config, q)  # back at ready, the needle lifted
    image = view_for(kin, config, "realsense1").render(canvas, kin.camera_pose(q, "realsense1"), tips, axes)
    ink = colour_mask(image, canvas.palette.ink, tolerance=60)
    for point in stroke[5:-5:5]:
        u, v = np.round(expected_pixel(kin, q, "realsense1", point)).astype(int)
        assert ink[v - 1 : v + 2, u - 1 : u + 2].any(), f"no ink at {point}"
    assert 10 < np.count_nonzero(ink) < 2000


def test_pixels_follow_joint_motion_and_are_deterministic(config, kin):
    q = config.pose("ready")
    canvas = SurfaceCanvas(config.work_surface, 2)
    t = np.linspace(0, 2 * np.pi, 50)
    tips = kin.needle_tips(q)
    canvas.set_stencil(
        [np.column_stack([p[0] + 0.02 * np.cos(t), p[1] + 0.02 * np.sin(t), np.full(50, p[2] - 0.02)]) for p in tips]
    )
    view = view_for(kin, config, "realsense1")

    def render(q):
        tips, axes = arm_state(kin, config, q)
        return view.render(canvas, kin.camera_pose(q, "realsense1"), tips, axes).astype(int)

    base = render(q)
    assert np.array_equal(base, render(q.copy()))
    moved = q.copy()
    moved[config.joint_names.index("left/joint_0")] += 0.05
    changed = np.abs(render(moved) - base).sum(axis=-1) > 30
    assert changed.mean() > 0.01
    # moving only the other arm's wrist moves its needle in this camera, not the view
    other = q.copy()
    other[config.joint_names.index("right/joint_4")] += 0.2
    diff = np.abs(render(other) - base).sum(axis=-1) > 30
    assert 0 < diff.mean() < 0.01


def test_horizon_masks_rays_that_miss_the_surface(config):
    K = np.array([[300.0, 0, 319.5], [0, 300.0, 239.5], [0, 0, 1]])
    view = CameraView(K, 640, 480)
    canvas = SurfaceCanvas(config.work_surface, 2)
    # camera 0.2 m above the surface looking horizontally along +x (optical z = +x, y = -z)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]])
    T[:3, 3] = [-0.3, 0.0, config.work_surface.z + 0.2]
    behind = np.tile([-5.0, 0.0, 0.0], (2, 1))  # needles behind the camera: not drawn
    down = np.tile([0, 0, -1.0], (2, 1))
    image = view.render(canvas, T, behind, down)
    palette = Palette()
    assert colour_mask(image[:235], palette.sky, 3).all()  # above the horizon row (v = 239.5)
    assert not colour_mask(image[260:], palette.sky, 3).any()
    assert colour_mask(image[300:], palette.skin, 3).any()
    # under the surface: nothing of it is visible
    T[2, 3] = config.work_surface.z - 0.01
    assert colour_mask(view.render(canvas, T, behind, down), palette.sky, 3).all()


@pytest.mark.parametrize("camera", ["realsense1", "realsense2"])
def test_depth_is_the_surface_distance_along_the_optical_axis(config, kin, camera):
    q = config.pose("ready")
    T = kin.camera_pose(q, camera)
    view = view_for(kin, config, camera)
    z = config.work_surface.z
    depth = view.render_depth(z, T)
    assert depth.dtype == np.uint16 and depth.shape == (480, 640)
    # the optical axis meets the surface plane at optical z = height / how fast the axis descends
    axis_depth_mm = 1000 * (T[2, 3] - z) / -T[2, 2]
    assert 0.07 < axis_depth_mm / 1000 < 0.5  # in range at ready: the test checks something
    cx, cy = view.K[0, 2], view.K[1, 2]  # (319.5, 239.5): between the four centre pixels
    centre = depth[int(cy) : int(cy) + 2, int(cx) : int(cx) + 2].astype(float)
    assert abs(centre.mean() - axis_depth_mm) < 1.0, (centre, axis_depth_mm)
    # every pixel: the ray through K^-1 (u, v, 1) meets the plane at optical z = its depth
    u, v = np.meshgrid(np.arange(640), np.arange(480))
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(view.K).T @ T[:3, :3].T
    with np.errstate(divide="ignore"):
        expected = (z - T[2, 3]) / rays[..., 2]  # m; negative or inf: the ray never reaches the plane
    near, far = D405_DEPTH_RANGE
    inside = (expected > near + 1e-4) & (expected < far - 1e-4)
    outside = ~((expected > near - 1e-4) & (expected < far + 1e-4))
    assert inside.mean() > 0.3 and outside.mean() > 0.1  # both kinds are in this view
    np.testing.assert_allclose(depth[inside], 1000 * expected[inside], atol=0.5 + 1e-3)
    assert not depth[outside].any()
    # colour and depth agree: where the colour image shows sky, there is no depth
    canvas = SurfaceCanvas(config.work_surface, len(config.arms))
    tips, axes = arm_state(kin, config, q)
    sky = colour_mask(view.render(canvas, T, tips, axes), canvas.palette.sky, 3)
    assert sky.any() and not depth[sky].any()


def test_depth_is_zero_when_the_surface_is_not_in_view(config):
    K = np.array([[300.0, 0, 319.5], [0, 300.0, 239.5], [0, 0, 1]])
    view = CameraView(K, 640, 480)
    T = np.eye(4)  # optical z (the view direction) = world +z: looking up from under the plane
    T[2, 3] = config.work_surface.z - 0.1
    assert not view.render_depth(config.work_surface.z, T).any()
    T[2, 3] = config.work_surface.z + 0.1  # above it, looking up: no ray goes down
    assert not view.render_depth(config.work_surface.z, T).any()
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking straight down from 10 cm: the plane is 100 mm deep
    assert np.all(view.render_depth(config.work_surface.z, T) == 100)  # in every pixel (it is square to the axis)


def test_bad_inputs_are_named(config):
    canvas = SurfaceCanvas(config.work_surface, 2)
    with pytest.raises(RenderError, match="one path per arm"):
        canvas.set_stencil([np.zeros((1, 3))])
    with pytest.raises(RenderError, match="stencil path 1"):
        canvas.set_stencil([np.zeros((1, 3)), np.array([[0.0, np.nan, 0.0]])])
    with pytest.raises(RenderError, match="needle tips"):
        canvas.update_tips(np.zeros((3, 3)))
    with pytest.raises(RenderError, match="contact_distance"):
        SurfaceCanvas(config.work_surface, 2, contact_distance=-1.0)
