"""A LeRobot processor step that gives a policy's 3-channel vision encoder a 1-channel depth image.

LeRobot 0.6.1 loads, stores and normalizes depth (``observation.images.<camera>_depth``, (1, H, W)
millimetres), but every policy's vision encoder takes 3 channels: ACT runs each camera through one
torchvision ResNet and fails on depth (``expected input[1, 1, 48, 64] to have 3 channels, but got
1``). huggingface/lerobot PR #4475 (open) makes ACT repeat a 1-channel camera to 3 channels. This
step does the same without changing LeRobot: placed in the policy's preprocessor after the
normalizer, it repeats each listed depth image to 3 identical channels (after normalization by the
depth statistics, as the PR does inside ACT's forward).

The step is not in LeRobot's registry: ``save_pretrained`` names it by its import path
(``"class": "tatbot_vla_policy.core.depth_channels.DepthToThreeChannelsProcessorStep"``) and
``from_pretrained`` imports it from there, so lerobot-train, replay and vla_policy load the
checkpoint wherever tatbot_vla_policy is importable. The policy's config keeps the depth inputs at
(1, H, W) (what the dataset and the node feed); ``transform_features`` gives (3, H, W) after the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.types import PipelineFeatureType, PolicyFeature
from lerobot.processor import ObservationProcessorStep

from tatbot_vla_policy.core.features import DEPTH_SUFFIX, IMAGE_PREFIX

CHANNELS = 3  # what the vision encoders of LeRobot's policies take


class DepthChannelsError(ValueError):
    """A listed depth image does not have one channel."""


@dataclass
class DepthToThreeChannelsProcessorStep(ObservationProcessorStep):
    """Repeats each of ``keys`` (1-channel images, channel dimension -3: (C, H, W), (B, C, H, W) or
    (B, T, C, H, W)) to 3 identical channels. A listed key absent from an observation is left out
    (the policy names a missing input itself); one with other than 1 channel is an error."""

    keys: list[str] = field(default_factory=list)

    def observation(self, observation: dict) -> dict:
        out = dict(observation)
        for key in self.keys:
            if key not in out:
                continue
            image = out[key]
            if image.ndim < 3 or image.shape[-3] != 1:
                raise DepthChannelsError(
                    f"{key}: expected a 1-channel depth image (..., 1, H, W), got shape {tuple(image.shape)}"
                )
            out[key] = image.repeat_interleave(CHANNELS, dim=-3)
        return out

    def get_config(self) -> dict:
        return {"keys": list(self.keys)}

    def transform_features(
        self, features: dict[PipelineFeatureType, dict[str, PolicyFeature]]
    ) -> dict[PipelineFeatureType, dict[str, PolicyFeature]]:
        observation = features.get(PipelineFeatureType.OBSERVATION, {})
        for key in self.keys:
            feature = observation.get(key)
            if feature is not None and len(feature.shape) == 3 and feature.shape[0] == 1:
                observation[key] = PolicyFeature(type=feature.type, shape=(CHANNELS, *feature.shape[1:]))
        return features


def depth_keys(input_features) -> list[str]:
    """The 1-channel ``observation.images.<camera>_depth`` inputs of a policy's ``input_features``
    (LeRobot ``PolicyFeature`` s), in their order."""
    return [
        key
        for key, feature in input_features.items()
        if key.startswith(IMAGE_PREFIX)
        and key.endswith(DEPTH_SUFFIX)
        and len(feature.shape) == 3
        and feature.shape[0] == 1
    ]


def add_depth_channels_step(preprocessor, keys: list[str]) -> bool:
    """Insert the step for ``keys`` right after the preprocessor's normalizer (in place); False (and
    nothing inserted) when ``keys`` is empty or the step is already there."""
    if not keys or any(isinstance(step, DepthToThreeChannelsProcessorStep) for step in preprocessor.steps):
        return False
    names = [type(step).__name__ for step in preprocessor.steps]
    if "NormalizerProcessorStep" not in names:
        raise DepthChannelsError(f"the policy's {preprocessor.name} has no NormalizerProcessorStep; its steps: {names}")
    preprocessor.steps.insert(names.index("NormalizerProcessorStep") + 1, DepthToThreeChannelsProcessorStep(list(keys)))
    return True
