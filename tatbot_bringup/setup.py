from glob import glob

from setuptools import find_packages, setup

package_name = "tatbot_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml", "README.md"]),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
        ("share/" + package_name + "/designs", glob("designs/*.svg")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tatbot maintainers",
    maintainer_email="maintainers@tatbot.dev",
    description="Robot description, configuration, launch files and the no-distro launch runner of tatbot.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "demo = tatbot_bringup.demo:main",
            "tatbot_urdf = tatbot_bringup.urdf:main",
        ],
    },
)
