"""Render the simulated wrist-camera images (pure numpy + OpenCV, no rclpy).

The scene is what a policy needs to learn tattooing from pixels:

* the horizontal work surface (robot.yaml ``work_surface``: height, centre, size), skin coloured;
* the stencil of the current design on it (one colour per arm: which arm draws which path);
* the ink the needles have left: whenever a needle tip is within ``contact_distance``
  of the surface (or below it), ink accumulates along its path in a surface-space map;
* each needle tip: a marker at its projection, the needle shaft behind it, its shadow
  (vertical projection on the surface) and a drop line from shadow to tip as height cue.

Geometry is real: each camera is a pinhole at its optical frame (FK of
``tatbot_bringup.kinematics``), so the surface is drawn with
``cv2.warpPerspective`` through the homography texture -> surface plane -> image,
and tips through the same projection. Rays that never reach the surface in front
of the camera (above the horizon) are masked. One 640x480 frame costs ~2 ms.
``CameraView.render_depth`` gives the aligned depth image of the same view (the surface
plane's optical-axis distance per pixel, in mm, as realsense2_camera's
``aligned_depth_to_color``).

Usage::

    canvas = SurfaceCanvas(surface, n_arms=2)            # surface: robot_config.WorkSurface
    canvas.set_stencil([left_path, right_path])          # (N, 3) arrays, base frame; clears ink
    canvas.update_tips(tips)                             # (n_arms, 3) at the joint-state rate
    view = CameraView(K, width, height)
    rgb = view.render(canvas, T_world_optical, tips, needle_axes)   # (height, width, 3) uint8
    depth = view.render_depth(canvas.z, T_world_optical)            # (height, width) uint16, mm
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]

# m: the range Intel specifies for the D405 (7 cm .. 50 cm); nearer or farther reads as no depth
D405_DEPTH_RANGE = (0.07, 0.5)


class RenderError(ValueError):
    """Inputs the renderer cannot draw (wrong shapes, non-finite values)."""


@dataclass(frozen=True)
class Palette:
    """Colours (RGB) and sizes of the rendered scene."""

    skin: RGB = (228, 196, 170)
    background: RGB = (48, 48, 54)  # rays that hit the surface plane outside the work surface
    sky: RGB = (92, 104, 120)  # rays that never reach the surface plane in front of the camera
    ink: RGB = (24, 20, 36)
    stencil: tuple[RGB, ...] = ((50, 90, 230), (210, 40, 150))  # per arm, config order
    needle: tuple[RGB, ...] = ((255, 150, 0), (0, 190, 110))  # per arm
    shadow: RGB = (150, 120, 100)
    marker_radius_px: int = 5
    line_px: int = 2
    needle_length: float = 0.03  # m of needle shaft drawn behind the tip


def _check(array, shape_tail: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.shape[array.ndim - len(shape_tail) :] != shape_tail or not np.all(np.isfinite(array)):
        raise RenderError(f"{what} must be finite with shape (..., {shape_tail}), got {array.shape}")
    return array


class SurfaceCanvas:
    """The work-surface texture (skin + stencil + ink) in surface coordinates.

    Pixel (u, v) of the texture is the surface point x = x_min + (u + 0.5) * resolution,
    y = y_min + (v + 0.5) * resolution at height ``z``. ``ink`` is the ink map (uint8, 255 =
    inked) in the same pixels; ``texture`` is kept composed (RGB uint8).
    """

    def __init__(
        self,
        surface,
        n_arms: int,
        *,
        resolution: float = 0.0005,
        stencil_width: float = 0.0015,
        ink_width: float = 0.001,
        contact_distance: float = 0.0015,
        palette: Palette = Palette(),
    ):
        if not resolution > 0 or not stencil_width > 0 or not ink_width > 0 or not contact_distance >= 0:
            raise RenderError(
                "resolution, stencil_width, ink_width must be > 0 and contact_distance >= 0, got "
                f"{resolution}, {stencil_width}, {ink_width}, {contact_distance}"
            )
        if n_arms > min(len(palette.stencil), len(palette.needle)):
            raise RenderError(f"the palette has colours for {len(palette.stencil)} arms, not {n_arms}")
        self.z = float(surface.z)
        self.n_arms = n_arms
        self.resolution = resolution
        self.contact_distance = contact_distance
        self.palette = palette
        size = np.asarray(surface.size_xy, dtype=float)
        self.origin_xy = np.asarray(surface.center_xy, dtype=float) - size / 2
        self.shape = (
            int(np.ceil(size[1] / resolution)),
            int(np.ceil(size[0] / resolution)),
        )  # rows=y, cols=x
        self._stencil_px = max(1, round(stencil_width / resolution))
        self._ink_px = max(1, round(ink_width / resolution))
        self.ink = np.zeros(self.shape, np.uint8)
        self.texture = np.empty((*self.shape, 3), np.uint8)
        self._base = np.empty_like(self.texture)
        self._previous: list[np.ndarray | None] = [None] * n_arms
        self.set_stencil([np.zeros((0, 3))] * n_arms)

    @property
    def texture_to_plane(self) -> np.ndarray:
        """3x3: homogeneous texture pixel (u, v, 1) -> surface point (x, y, 1)."""
        r = self.resolution
        x0, y0 = self.origin_xy + 0.5 * r
        return np.array([[r, 0.0, x0], [0.0, r, y0], [0.0, 0.0, 1.0]])

    def to_pixels(self, xy) -> np.ndarray:
        """Surface points (..., 2) (or (..., 3), z ignored) -> texture pixel coordinates (..., 2)."""
        xy = np.asarray(xy, dtype=float)[..., :2]
        return (xy - self.origin_xy) / self.resolution - 0.5

    def _fixed_point(self, xy) -> np.ndarray:
        return np.round(self.to_pixels(xy) * 16).astype(np.int32)  # cv2 shift=4

    def set_stencil(self, paths: Sequence[np.ndarray]) -> None:
        """Draw a new design (one (N, 3) polyline per arm, base frame) and clear all ink."""
        if len(paths) != self.n_arms:
            raise RenderError(f"a stencil needs one path per arm ({self.n_arms}), got {len(paths)}")
        paths = [_check(np.reshape(p, (-1, 3)), (3,), f"stencil path {i}") for i, p in enumerate(paths)]
        self._base[:] = self.palette.skin
        for arm, path in enumerate(paths):
            colour = self.palette.stencil[arm]
            if len(path) == 1:
                cv2.circle(
                    self._base,
                    tuple(self._fixed_point(path[0])),
                    16 * self._stencil_px,
                    colour,
                    -1,
                    cv2.LINE_AA,
                    shift=4,
                )
            elif len(path) > 1:
                cv2.polylines(
                    self._base,
                    [self._fixed_point(path)],
                    False,
                    colour,
                    self._stencil_px,
                    cv2.LINE_AA,
                    shift=4,
                )
        self.ink[:] = 0
        self._previous = [None] * self.n_arms
        np.copyto(self.texture, self._base)

    def update_tips(self, tips) -> bool:
        """Integrate needle tips (n_arms, 3): ink the surface under tips in contact.

        A tip in contact now and at the previous update inks the segment between the two
        positions (no gaps at speed); a tip just touching down inks a dot. Returns True if
        any ink was added.
        """
        tips = _check(tips, (3,), "needle tips")
        if tips.shape != (self.n_arms, 3):
            raise RenderError(f"needle tips must have shape ({self.n_arms}, 3), got {tips.shape}")
        inked = False
        for arm, tip in enumerate(tips):
            if tip[2] - self.z > self.contact_distance:
                self._previous[arm] = None
                continue
            now = self._fixed_point(tip)
            before = self._previous[arm]
            for image, colour in ((self.ink, 255), (self.texture, self.palette.ink)):
                if before is None:
                    cv2.circle(image, tuple(now), 8 * self._ink_px, colour, -1, cv2.LINE_8, shift=4)
                else:
                    cv2.line(image, tuple(before), tuple(now), colour, self._ink_px, cv2.LINE_8, shift=4)
            self._previous[arm] = now
            inked = True
        return inked


class _DepthScratch:
    """Per-view buffers of :meth:`CameraView.render_depth` (so one view renders depth in one thread
    at a time): fresh (height, width) temporaries each frame made it ~4x slower (1.4-1.9 ms
    instead of 0.3-0.5 ms at 640x480, the allocator page-faulting them in)."""

    def __init__(self, width: int, height: int):
        self.u = np.arange(width, dtype=np.float32)
        self.v = np.arange(height, dtype=np.float32)[:, None]
        self.descent = np.empty((height, width), np.float32)
        self.depth_mm = np.empty((height, width), np.float32)
        self.seen = np.empty((height, width), bool)
        self.seen_near = np.empty((height, width), bool)


class CameraView:
    """A pinhole camera (intrinsics ``K`` at ``width`` x ``height``) that renders a SurfaceCanvas."""

    def __init__(self, K, width: int, height: int, near: float = 0.005):
        self.K = _check(K, (3, 3), "K")
        self.K_inv = np.linalg.inv(self.K)
        self.width, self.height, self.near = int(width), int(height), near
        self._depth_scratch = _DepthScratch(self.width, self.height)

    def project(self, T_world_optical, points) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> pixels (N, 2) and a mask of points in front of the camera."""
        T = _check(T_world_optical, (4, 4), "camera pose")
        cam = (_check(points, (3,), "points") - T[:3, 3]) @ T[:3, :3]
        front = cam[:, 2] > self.near
        depth = np.where(front, cam[:, 2], 1.0)[:, None]
        return (cam @ self.K.T)[:, :2] / depth, front

    def surface_homography(self, canvas: SurfaceCanvas, T_world_optical) -> np.ndarray:
        """3x3: texture pixel (u, v, 1) -> image pixel (homogeneous)."""
        T = _check(T_world_optical, (4, 4), "camera pose")
        R_cw = T[:3, :3].T  # world -> camera rotation
        t = R_cw @ (np.array([0.0, 0.0, canvas.z]) - T[:3, 3])
        plane_to_image = self.K @ np.column_stack([R_cw[:, 0], R_cw[:, 1], t])
        return plane_to_image @ canvas.texture_to_plane

    def _sky_polygon(self, canvas: SurfaceCanvas, T: np.ndarray) -> np.ndarray | None:
        """Image polygon (K, 2) whose rays miss the surface plane in front of the camera, or None.

        A ray's world z component is linear in the pixel (u, v), so the pixels that never
        reach the plane (not going down, or nearly parallel to it) form the image rectangle
        clipped by one half-plane: a convex polygon.
        """
        if T[2, 3] <= canvas.z:  # at or under the surface: nothing of its top side is visible
            return np.array([[0, 0], [self.width, 0], [self.width, self.height], [0, self.height]], float)
        a, b, c = T[2, :3] @ self.K_inv
        corners = np.array(
            [
                [-0.5, -0.5],
                [self.width - 0.5, -0.5],
                [self.width - 0.5, self.height - 0.5],
                [-0.5, self.height - 0.5],
            ]
        )
        f = corners @ np.array([a, b]) + c + 1e-6  # >= 0: the ray misses the plane
        if np.all(f < 0):
            return None
        polygon = []
        for i in range(4):
            j = (i + 1) % 4
            if f[i] >= 0:
                polygon.append(corners[i])
            if (f[i] >= 0) != (f[j] >= 0):
                polygon.append(corners[i] + (corners[j] - corners[i]) * f[i] / (f[i] - f[j]))
        return np.array(polygon)

    def _segment(self, T: np.ndarray, p0: np.ndarray, p1: np.ndarray):
        """Project a 3-D segment clipped at the near plane; None if it is behind the camera."""
        cam = (np.stack([p0, p1]) - T[:3, 3]) @ T[:3, :3]
        z0, z1 = cam[:, 2]
        if z0 <= self.near and z1 <= self.near:
            return None
        if z0 <= self.near or z1 <= self.near:
            s = (self.near - z0) / (z1 - z0)
            clipped = cam[0] + s * (cam[1] - cam[0])
            cam[0 if z0 <= self.near else 1] = clipped
        pix = (cam @ self.K.T)[:, :2] / cam[:, 2:3]
        pix = np.clip(np.round(pix), -1e6, 1e6).astype(np.int64)
        inside, a, b = cv2.clipLine((0, 0, self.width, self.height), tuple(map(int, pix[0])), tuple(map(int, pix[1])))
        return (a, b) if inside else None

    def render_depth(
        self, surface_z: float, T_world_optical, out=None, depth_range: tuple[float, float] = D405_DEPTH_RANGE
    ) -> np.ndarray:
        """The aligned depth image (height, width) uint16 in mm (0: no depth) of :meth:`render`'s view.

        Each pixel holds the optical-axis distance (z in the optical frame) to the horizontal
        plane ``z = surface_z`` along its ray through K^-1 (u, v, 1), the pixel centres of the
        colour image's homography, so depth and colour agree pixel for pixel. What is modelled:
        that plane only, inside the work surface and beyond it (where the colour image is dark
        grey). The needle markers, shafts, shadows and drop lines are 2-D overlays of the colour
        image, not geometry: they have no depth. A pixel reads 0 where its ray misses the plane
        in front of the camera (the colour image's sky; everything when the camera is at or
        under the plane) or hits it outside ``depth_range`` (m, the D405's specified range).
        """
        T = _check(T_world_optical, (4, 4), "camera pose")
        if out is None:
            out = np.empty((self.height, self.width), np.uint16)
        height = float(T[2, 3] - surface_z)  # of the camera above the plane, m
        if height <= 0:
            out[:] = 0
            return out
        # along a pixel's ray the world z changes by a u + b v + c per metre of optical z, so the
        # plane is at optical z = height / descent with descent = -(a u + b v + c)
        a, b, c = (T[2, :3] @ self.K_inv).astype(np.float32)
        scratch = self._depth_scratch
        descent = np.add(-a * scratch.u, -b * scratch.v - c, out=scratch.descent)
        near, far = depth_range
        seen = np.greater_equal(descent, np.float32(height / far), out=scratch.seen)
        seen &= np.less_equal(descent, np.float32(height / near), out=scratch.seen_near)
        depth_mm = scratch.depth_mm
        depth_mm.fill(0.0)
        np.divide(np.float32(1000.0 * height), descent, out=depth_mm, where=seen)
        np.copyto(out, np.rint(depth_mm, out=depth_mm), casting="unsafe")
        return out

    def render(self, canvas: SurfaceCanvas, T_world_optical, tips, needle_axes, out=None) -> np.ndarray:
        """The RGB image (height, width, 3) uint8 seen from optical frame ``T_world_optical``."""
        T = _check(T_world_optical, (4, 4), "camera pose")
        tips = _check(tips, (3,), "needle tips").reshape(-1, 3)
        axes = _check(needle_axes, (3,), "needle axes").reshape(-1, 3)
        pal = canvas.palette
        if out is None:
            out = np.empty((self.height, self.width, 3), np.uint8)
        cv2.warpPerspective(
            canvas.texture,
            self.surface_homography(canvas, T),
            (self.width, self.height),
            dst=out,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=pal.background,
        )
        sky = self._sky_polygon(canvas, T)
        if sky is not None:
            cv2.fillConvexPoly(out, np.round(sky * 16).astype(np.int32), pal.sky, cv2.LINE_AA, shift=4)
        shadows = tips.copy()
        shadows[:, 2] = canvas.z
        shadow_px, shadow_front = self.project(T, shadows)
        tip_px, tip_front = self.project(T, tips)
        r = pal.marker_radius_px
        for arm in range(len(tips)):
            if shadow_front[arm] and tips[arm, 2] > canvas.z:
                centre = tuple(int(v) for v in np.clip(np.round(shadow_px[arm]), -1e6, 1e6))
                cv2.circle(out, centre, r, pal.shadow, -1, cv2.LINE_AA)
                drop = self._segment(T, shadows[arm], tips[arm])
                if drop:
                    cv2.line(out, *drop, pal.shadow, 1, cv2.LINE_AA)
        for arm in range(len(tips)):
            colour = pal.needle[arm]
            shaft = self._segment(T, tips[arm], tips[arm] - pal.needle_length * axes[arm])
            if shaft:
                cv2.line(out, *shaft, colour, pal.line_px + 1, cv2.LINE_AA)
            if tip_front[arm]:
                centre = tuple(int(v) for v in np.clip(np.round(tip_px[arm]), -1e6, 1e6))
                cv2.circle(out, centre, r, colour, -1, cv2.LINE_AA)
                cv2.circle(out, centre, r, (255, 255, 255), 1, cv2.LINE_AA)
        return out
