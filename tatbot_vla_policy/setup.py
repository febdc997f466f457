from setuptools import find_packages, setup

package_name = "tatbot_vla_policy"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml", "README.md"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tatbot maintainers",
    maintainer_email="maintainers@tatbot.dev",
    description=(
        "Runs a trained LeRobot policy as a ROS 2 node streaming 14-DoF action chunks, plus offline replay evaluation."
    ),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "vla_policy = tatbot_vla_policy.vla_policy_node:main",
            "replay = tatbot_vla_policy.replay:main",
            "evaluate = tatbot_vla_policy.evaluate:main",
            "init_relative_policy = tatbot_vla_policy.init_relative_policy:main",
            "local_backbone = tatbot_vla_policy.local_backbone:main",
            "validation_loss = tatbot_vla_policy.validation_loss:main",
        ],
    },
)
