from setuptools import find_packages, setup

package_name = "tatbot_recorder"

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
    description=("Episode recorder, stroke demonstrations and the rosbag2 to LeRobot dataset converter."),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "recorder = tatbot_recorder.recorder_node:main",
            "stroke_demo = tatbot_recorder.stroke_demo_node:main",
            "bag_to_lerobot = tatbot_recorder.bag_to_lerobot:main",
        ],
    },
)
